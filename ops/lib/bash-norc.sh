#!/bin/sh
# zx runs each command as `<this> -c <command>`: see ops/lib/shell.mjs.
exec bash --norc --noprofile "$@"
