# test/django-matrix.sh: running the cells of django-lockable's test matrix
# (python/matrix.toml) from a suite.  Sourced by test/suites/80-django-package.sh
# and 85-live-editing.sh, after test/lib.sh.
#
#   MatrixCells [PART]        the cells, in the table's order (with PART)
#   MatrixField CELL KEY      a field of a cell (parts, servers, label)
#   CellPython CELL           sets CELL_PYTHON to the cell's interpreter,
#                             making its virtualenv once (test/django_matrix.py);
#                             returns 77 with CELL_WHY set when it cannot be
#                             had (PyPI unreachable and nothing cached), 1
#                             when the build failed
#   RunCellPart LABEL LOG CMD...
#                             run one part of a cell (a pytest run, say),
#                             its output shown and kept in LOG; its counts
#                             and wall time become a line of the report
#   ReportLine TEXT           add a line of your own (a skipped cell, say)
#   PrintMatrixReport TITLE   the lines, one per cell and part; they also go
#                             to $LOCKABLE_SUITE_REPORT when test/run.sh set
#                             it, for the summary of "make test"
#
# MATRIX_FAILED is 1 once any part failed.

MATRIX="$LOCKABLE_TOP/test/django_matrix.py"
MATRIX_LINES=()
MATRIX_FAILED=0
# What a Python run may leave in the tree; a run must leave none of it.
export PYTHONDONTWRITEBYTECODE=1

MatrixCells() { /usr/bin/python3 "$MATRIX" cells "$@"; }
MatrixField() { /usr/bin/python3 "$MATRIX" field "$@"; }

CellPython() {
    local cell=$1 out rc=0
    CELL_PYTHON= CELL_WHY=
    out=$(/usr/bin/python3 "$MATRIX" python "$cell") || rc=$?
    if [ $rc -eq 0 ]; then
        CELL_PYTHON=$(tail -n 1 <<<"$out")
        return 0
    fi
    CELL_WHY=$(sed -n 's/^skipped: //p' <<<"$out" | tail -n 1)
    [ $rc -eq "$SKIP" ] && return "$SKIP"
    CELL_WHY=${CELL_WHY:-its virtualenv did not build}
    return 1
}

ReportLine() {
    MATRIX_LINES+=("$1")
}

RunCellPart() {
    local label=$1 log=$2 start rc p f s
    shift 2
    Say "$label"
    start=$(date +%s)
    set +e
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    read -r p f s < <(/usr/bin/python3 "$MATRIX" counts "$log")
    if [ "$rc" -ne 0 ]; then
        MATRIX_FAILED=1
        # A run that failed before pytest counted anything is one failure.
        [ "$f" -eq 0 ] && f=1
    fi
    ReportLine "$(printf '%-44s %s passed, %s failed, %s skipped (%d s)' "$label:" "$p" "$f" "$s" \
        $(($(date +%s) - start)))"
    return 0
}

PrintMatrixReport() {
    Say "$1"
    printf '%s\n' "${MATRIX_LINES[@]}"
    if [ -n "${LOCKABLE_SUITE_REPORT:-}" ]; then
        printf '%s\n' "${MATRIX_LINES[@]}" >>"$LOCKABLE_SUITE_REPORT"
    fi
}
