// libuv for Swift: macros and variadics turned into functions. Only FleetRuntime imports this.
#include <uv.h>
#include <sys/resource.h>
