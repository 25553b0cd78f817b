"""Integer codes shared by the engine and the compiled kernel (numba reads them as constants)."""

# strategies
UNIFORM, STATIC, LOCAL, HITLIST, PERM, SEQ = 0, 1, 2, 3, 4, 5
# float parameters
P_SPACE, P_ANY_SPACE, P_SIZE1, P_SIZE2, P_ANY, P_1, P_2 = 0, 1, 2, 3, 4, 5, 6
P_DURATION, P_STEP, P_DT, P_EPS, P_CAP, P_DELAY = 7, 8, 9, 10, 11, 12
P_BL_REACT, P_BL_COV, P_CF_REACT, P_CF_COV, P_FLOOD, P_JITTER = 13, 14, 15, 16, 17, 18
N_PF = 19
# int parameters
Q_STRATEGY, Q_HITLIST_THEN, Q_SEQ_START, Q_KMAX = 0, 1, 2, 3
N_PI = 4
# output columns
C_T, C_S, C_I, C_R, C_NEW, C_PROBES, C_EVER, C_FLOOD, C_SCAN = 0, 1, 2, 3, 4, 5, 6, 7, 8
N_BASE_COLS = 9
# host states and event kinds
S_SUS, S_INF, S_REM = 0, 1, 2
E_ACTIVATE, E_BLACKLIST, E_TELESCOPE = 0, 1, 2
# aggregate probe rates: effective per side (0, 1), and sent
A_SENT = 2
# calendar phases
PH_SPREAD, PH_FLOOD, PH_DORMANT = 0, 1, 2
