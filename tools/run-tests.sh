#!/bin/sh
# run-tests.sh BUILD_DIR — run every cmocka test binary in BUILD_DIR/tests and
# close with one summary line "N passed, N failed" over all of them.
build=${1:-build}
passed=0 failed=0 broken=""
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | grep -o '\[  PASSED  \] [0-9]*' | awk '{s+=$NF} END {print s+0}')
    f=$(printf '%s\n' "$out" | grep -o '\[  FAILED  \] [0-9]* test' | awk '{s+=$(NF-1)} END {print s+0}')
    passed=$((passed + p)); failed=$((failed + f))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        failed=$((failed + 1)); broken="$broken $(basename "$t")"
    fi
done
[ -n "$broken" ] && echo "crashed or exited non-zero:$broken"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
