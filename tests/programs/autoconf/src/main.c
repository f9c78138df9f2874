#include <config.h>
#include <stdio.h>
#include "greet.h"
int main(int c, char **v) { puts(greeting(c > 1 ? v[1] : "world")); return 0; }
