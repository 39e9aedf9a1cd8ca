#!/bin/sh
# Reject functions that invite overflows or shells in src/ (see STYLE.md).
cd "$(dirname "$0")/.."
bad=$(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok|system|popen|alloca)[[:space:]]*\(' \
      $(find src -name '*.[ch]') | grep -vE '^\S+:[0-9]+:\s*(/\*|\*|//)')
if [ -n "$bad" ]; then echo "banned functions in src/:"; echo "$bad"; exit 1; fi
exit 0
