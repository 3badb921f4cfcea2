// OpenSSL for Swift: SSL_OP_* and ctrl macros turned into functions. Only FleetRuntime imports this.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/buffer.h>

// SSL_CTX_ctrl / SSL_ctrl / BIO_ctrl macros (PLATFORM-NOTES §2).
static inline long shim_SSL_CTX_set_min_proto_version(SSL_CTX *c, int v) { return SSL_CTX_set_min_proto_version(c, v); }
static inline long shim_SSL_CTX_set_max_proto_version(SSL_CTX *c, int v) { return SSL_CTX_set_max_proto_version(c, v); }
static inline long shim_SSL_CTX_set_mode(SSL_CTX *c, long m) { return SSL_CTX_set_mode(c, m); }
static inline long shim_SSL_CTX_set_session_cache_mode(SSL_CTX *c, long m) { return SSL_CTX_set_session_cache_mode(c, m); }
static inline long shim_SSL_set_tlsext_host_name(SSL *s, const char *name) { return SSL_set_tlsext_host_name(s, name); }
static inline long shim_BIO_set_mem_eof_return(BIO *b, int v) { return BIO_set_mem_eof_return(b, v); }

// The capacity a memory BIO holds allocated right now (BUF_MEM.max), to free it while idle.
static inline size_t shim_BIO_mem_capacity(BIO *b) {
    BUF_MEM *m = NULL;
    BIO_get_mem_ptr(b, &m);
    return m != NULL ? m->max : 0;
}

// SSL_OP_* are SSL_OP_BIT(n) macros in OpenSSL 3.
static inline uint64_t shim_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t shim_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t shim_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }

static inline void shim_OPENSSL_free(void *p) { OPENSSL_free(p); }

// subjectAltName entries: STACK_OF(GENERAL_NAME) accessors are macros/inline generics.
static inline int shim_general_names_count(const GENERAL_NAMES *names) { return sk_GENERAL_NAME_num(names); }
/// The string of entry i (DNS, URI, email; NULL for other kinds) and its GEN_* type in *type.
static inline const ASN1_STRING *shim_general_name_string(const GENERAL_NAMES *names, int i, int *type) {
    const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
    *type = name->type;
    switch (name->type) {
    case GEN_DNS: return name->d.dNSName;
    case GEN_URI: return name->d.uniformResourceIdentifier;
    case GEN_EMAIL: return name->d.rfc822Name;
    default: return NULL;
    }
}
static inline void shim_GENERAL_NAMES_free(GENERAL_NAMES *names) { GENERAL_NAMES_free(names); }
