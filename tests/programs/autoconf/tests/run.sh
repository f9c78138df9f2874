#!/bin/sh
test "$(./greet)" = "Hello, world!" && test "$(./greet you)" = "Hello, you!"
