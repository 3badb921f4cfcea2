// OpenSSL for Swift: SSL_OP_* and ctrl macros turned into functions. Only FleetRuntime imports this.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/evp.h>
