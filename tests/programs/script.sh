# A shell workload: traps, background jobs, kill, wait, subshells,
# substitutions, redirections, pipelines of coreutils, find -exec and
# xargs -P2. $T is a scratch directory.
T=$(mktemp -d)
set -e
trap 'echo trapped USR1' USR1
sleep 5 & bg=$!
kill -USR1 $$
kill $bg
wait $bg || echo "bg ended $?"
(echo sub; exit 3) || echo "subshell $?"
printf 'b\na\nb\nc\nb\n' | sort | uniq -c | sed 's/^ *//'
echo "$(echo nested $(echo deep))"
exec 3>"$T/out.txt"; echo to-fd3 >&3; exec 3>&-; cat "$T/out.txt"
mkdir -p "$T/tree"/a "$T/tree"/b; touch "$T/tree"/a/x "$T/tree"/b/y
find "$T/tree" -type f -exec basename {} \; | sort
printf '1\n2\n3\n4\n' | xargs -P2 -n1 sh -c 'echo $(($1*$1))' _ | sort -n
wait
echo done
