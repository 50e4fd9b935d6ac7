#ifndef KEYCLOAK_FCGI_CFASTCGI_SHIM_H
#define KEYCLOAK_FCGI_CFASTCGI_SHIM_H

// libfcgi's thread-safe API. fcgi_stdio.h is deliberately not used: its printf/stdout
// macros never reach Swift code, and FCGI_Accept is single-threaded.
#include <fcgiapp.h>

#endif
