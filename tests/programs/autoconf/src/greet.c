#include <config.h>
#include <stdio.h>
#include "greet.h"
const char *greeting(const char *who) { static char b[64]; snprintf(b, sizeof b, "Hello, %s!", who); return b; }
