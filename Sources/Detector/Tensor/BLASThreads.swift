import COpenBLAS

/// Thread policy between OpenBLAS and Dispatch: on a 2-core machine OpenBLAS's own pool and several Dispatch
/// workers calling into it would oversubscribe the cores, so the model's queue is the only BLAS caller and the pool
/// size is set once here (also honoured from `OPENBLAS_NUM_THREADS`).
public enum BLASThreads {
    public static func set(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    public static var current: Int { Int(openblas_get_num_threads()) }
}
