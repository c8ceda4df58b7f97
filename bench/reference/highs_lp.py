"""Solves one LP with HiGHS for the exact reference (bench/reference).

lp_reference.cc writes the LP in column-major form to a binary file:

    int64 rows, cols, nnz
    float64 col_cost[cols], col_lo[cols], col_hi[cols], row_lo[rows], row_hi[rows]
    int64 starts[cols + 1]
    int32 index[nnz]
    float64 value[nnz]

(bounds of magnitude 1e30 or more are infinite). This script solves it with
the HiGHS solver named on the command line ("choose", "simplex", "ipm" or
"pdlp"), writes the primal column values as float64 to the output file, and
prints one JSON line: the model status, the objective and HiGHS's own run time.

    python highs_lp.py LP_IN SOLUTION_OUT SOLVER
"""
import json
import sys

import highspy
import numpy as np


def main(lp_in, solution_out, solver):
    with open(lp_in, "rb") as f:
        rows, cols, nnz = (int(v) for v in np.fromfile(f, dtype=np.int64, count=3))
        doubles = np.fromfile(f, dtype=np.float64, count=3 * cols + 2 * rows)
        starts = np.fromfile(f, dtype=np.int64, count=cols + 1)
        index = np.fromfile(f, dtype=np.int32, count=nnz)
        value = np.fromfile(f, dtype=np.float64, count=nnz)
    if value.size != nnz:
        raise SystemExit(f"highs_lp: {lp_in} is truncated")
    doubles[np.abs(doubles) >= 1e30] *= np.inf
    cost, col_lo, col_hi = doubles[:cols], doubles[cols:2 * cols], doubles[2 * cols:3 * cols]
    row_lo, row_hi = doubles[3 * cols:3 * cols + rows], doubles[3 * cols + rows:]

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("solver", solver)
    lp = highspy.HighsLp()
    lp.num_col_ = cols
    lp.num_row_ = rows
    lp.col_cost_ = cost
    lp.col_lower_ = col_lo
    lp.col_upper_ = col_hi
    lp.row_lower_ = row_lo
    lp.row_upper_ = row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = cols
    lp.a_matrix_.num_row_ = rows
    lp.a_matrix_.start_ = starts
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    if h.passModel(lp) != highspy.HighsStatus.kOk:
        raise SystemExit("highs_lp: HiGHS refused the model")
    before = h.getRunTime()
    h.run()
    seconds = h.getRunTime() - before
    status = h.getModelStatus()
    np.asarray(h.getSolution().col_value, dtype=np.float64).tofile(solution_out)
    print(json.dumps({
        "status": h.modelStatusToString(status),
        "optimal": status == highspy.HighsModelStatus.kOptimal,
        "objective": h.getInfo().objective_function_value,
        "seconds": seconds,
    }))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: highs_lp.py LP_IN SOLUTION_OUT SOLVER")
    main(*sys.argv[1:])
