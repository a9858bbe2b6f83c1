# Shared by scripts/bench/build-vs-zip.sh and iso-vs-xorriso.sh (sourced, not run): timing of
# one command into $WORK/LABEL.times and the summary of those times.

# measure LABEL OUT CMD...: remove OUT, flush dirty pages (so one run's writeback does not
# land in the next run's time), then time CMD; appends "wall rss" to $WORK/LABEL.times and
# prints them with the printf format $MEASURE_FORMAT (label, wall, rss).
measure() {
    local label=$1 out=$2
    shift 2
    rm -f "$out"
    sync
    sleep 1
    /usr/bin/time -o "$WORK/time.out" -f "%e %M" "$@" >/dev/null 2>&1
    cat "$WORK/time.out" >>"$WORK/$label.times"
    # shellcheck disable=SC2046,SC2059 # the two numbers split on purpose; the format is the caller's
    printf "$MEASURE_FORMAT" "$label" $(cat "$WORK/time.out")
}

median() { # median wall time and max RSS of LABEL
    sort -n "$WORK/$1.times" | awk '{ w[NR] = $1; if ($2 > r) r = $2 } END { printf "%s s, %s KiB", w[int((NR + 1) / 2)], r }'
}
