#!/bin/sh
# check-config-examples.sh: the example configs in packaging/etc/ must
# document every setting of the daemons' settings tables, with the table's
# default and bounds, and nothing the tables no longer have. Settings are
# added to the C tables over time; this keeps the shipped examples honest.
#
#   packaging/check-config-examples.sh        (from anywhere; exit 1 naming each gap)
#
# An example documents setting KEY as a block of comment lines followed by a
# line "KEY = value" or "#KEY = value". The comment block must say
# "Required." (no default), or "Default: D" (D as in the table, "empty" for
# ""), and for numbers "Range: MIN..MAX" (decimals with one place for °C).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
status=0

# table_rows FILE: "name|type|default|min|max" for each row of a
# config_setting table; fails when a row does not parse (a new form of row
# this script must learn).
table_rows() {
    rows=$(grep -c '^ *{"[a-z0-9_]*", *CONFIG_' "$1" || true)
    parsed=$(sed -n 's/^ *{"\([a-z0-9_]*\)", *\(CONFIG_[A-Z0-9]*\), *\(NULL\|"[^"]*"\), *\(-\{0,1\}[0-9][0-9]*\)L*, *\(-\{0,1\}[0-9][0-9]*\)L*,.*/\1|\2|\3|\4|\5/p' "$1")
    n=$(printf '%s\n' "$parsed" | grep -c . || true)
    if [ "$n" -ne "$rows" ] || [ "$rows" -eq 0 ]; then
        echo "check-config-examples: $1: parsed $n of $rows settings rows; teach this script the new row form" >&2
        return 1
    fi
    printf '%s\n' "$parsed"
}

# dec1 N: tenths as a decimal with one place (2000 -> 200.0).
dec1() { echo "$1" | awk '{ printf "%.1f", $1 / 10 }'; }

check() {
    table=$ROOT/$1 example=$ROOT/$2
    rows=$(table_rows "$table") || { status=1; return; }
    names=""
    for row in $rows; do
        IFS='|' read -r name type def min max <<ROW
$row
ROW
        names="$names $name"
        n=$(grep -c "^#\{0,1\}$name = " "$example" || true)
        if [ "$n" -ne 1 ]; then
            echo "$2: setting $name (from $1) appears $n times, expected once" >&2
            status=1
            continue
        fi
        # The comment block right above the setting line.
        block=$(awk -v key="$name" '
            $0 ~ "^#?" key " = " { print buf; exit }
            /^#/ && $0 !~ /^#[a-z0-9_]+ = / { buf = buf "\n" $0; next }
            { buf = "" }' "$example")
        case $def in
            NULL) want="Required." ;;
            '""') want="Default: empty" ;;
            *) want="Default: $(echo "$def" | tr -d '"')" ;;
        esac
        case $block in
            *"$want"*) ;;
            *) echo "$2: $name: comment must say '$want' (table: $1)" >&2; status=1 ;;
        esac
        case $type in
            CONFIG_INT) want="Range: $min..$max" ;;
            CONFIG_DEC1) want="Range: $(dec1 "$min")..$(dec1 "$max")" ;;
            *) want="" ;;
        esac
        if [ -n "$want" ]; then
            case $block in
                *"$want"*) ;;
                *) echo "$2: $name: comment must say '$want' (table: $1)" >&2; status=1 ;;
            esac
        fi
    done
    # Settings the example has but the table does not (renamed or removed).
    for key in $(sed -n 's/^#\{0,1\}\([a-z0-9_]*\) = .*/\1/p' "$example"); do
        case " $names " in
            *" $key "*) ;;
            *) echo "$2: $key is not a setting of $1" >&2; status=1 ;;
        esac
    done
}

check agent/agent_config.c packaging/etc/agent.conf
check collector/collector_config.c packaging/etc/collector.conf
check collector/policy.c packaging/etc/policy.conf
[ "$status" -eq 0 ] && echo "check-config-examples: agent.conf, collector.conf, policy.conf document every setting"
exit "$status"
