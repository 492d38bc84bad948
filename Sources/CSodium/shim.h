#ifndef C_SODIUM_SHIM_H
#define C_SODIUM_SHIM_H
#include <sodium.h>
#endif
