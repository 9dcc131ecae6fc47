#!/bin/sh
# readme_blocks.sh README HEADING...: print the ```sh blocks found under
# each "## HEADING" section of README (up to the next "## "), in order.
# Blocks fenced as anything but sh (ini, text) are shown to readers only.
set -eu
readme=$1
shift
for heading in "$@"; do
    grep -qxF "## $heading" "$readme" || { echo "readme_blocks.sh: no section '## $heading' in $readme" >&2; exit 1; }
    awk -v want="## $heading" '
        $0 == want { in_section = 1; next }
        /^## / { in_section = 0 }
        in_section && /^```sh$/ { in_block = 1; next }
        in_block && /^```$/ { in_block = 0; print ""; next }
        in_block { print }
    ' "$readme"
done
