import Foundation

/// A flat, named set of tensors: a state dict from a checkpoint or a safetensors file.
public protocol WeightSource: Sendable {
    /// Every key, in file order.
    var keys: [String] { get }
    func shape(of key: String) -> [Int]?
    /// The tensor as contiguous float32 (strides applied, other dtypes converted).
    func tensor(_ key: String) throws -> Tensor
}

/// Turns raw storage bytes of a given element type into floats, honouring offset and strides.
enum StorageDecoder {
    static func elementSize(_ dtype: String) -> Int? {
        switch dtype {
        case "FloatStorage", "F32", "IntStorage", "I32": return 4
        case "HalfStorage", "F16", "BFloat16Storage", "BF16", "ShortStorage", "I16": return 2
        case "DoubleStorage", "F64", "LongStorage", "I64": return 8
        case "ByteStorage", "U8", "CharStorage", "I8", "BoolStorage", "BOOL": return 1
        default: return nil
        }
    }

    /// Reads element `i` of the storage as Float.
    @inline(__always)
    static func read(_ raw: UnsafeRawPointer, _ i: Int, _ dtype: String) -> Float {
        switch dtype {
        case "FloatStorage", "F32": return raw.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
        case "HalfStorage", "F16": return Float(raw.loadUnaligned(fromByteOffset: i * 2, as: Float16.self))
        case "BFloat16Storage", "BF16":
            return Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16)
        case "DoubleStorage", "F64": return Float(raw.loadUnaligned(fromByteOffset: i * 8, as: Double.self))
        case "LongStorage", "I64": return Float(raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
        case "IntStorage", "I32": return Float(raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
        case "ShortStorage", "I16": return Float(raw.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))
        case "CharStorage", "I8": return Float(raw.loadUnaligned(fromByteOffset: i, as: Int8.self))
        default: return Float(raw.loadUnaligned(fromByteOffset: i, as: UInt8.self))
        }
    }

    /// Gathers a (possibly non-contiguous) view into a contiguous tensor.
    static func materialize(key: String, bytes: Data, dtype: String, storageCount: Int, offset: Int, shape: [Int],
                            strides: [Int], path: String) throws -> Tensor {
        guard let size = elementSize(dtype) else { throw WeightsError.unsupportedDType(key: key, dtype: dtype) }
        guard bytes.count >= storageCount * size else {
            throw WeightsError.truncated(path: path, detail: "storage of \(key) has \(bytes.count) bytes, needs \(storageCount * size)")
        }
        let count = shape.reduce(1, *)
        if count > 0 {
            let last = offset + zip(shape, strides).reduce(0) { $0 + ($1.0 - 1) * $1.1 }
            guard offset >= 0, last < storageCount else {
                throw WeightsError.truncated(path: path, detail: "tensor \(key) \(shape) reaches past its storage (\(storageCount) elements)")
            }
        }
        var out = [Float](repeating: 0, count: count)
        let contiguous = strides == contiguousStrides(shape)
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            out.withUnsafeMutableBufferPointer { dst in
                if contiguous && (dtype == "FloatStorage" || dtype == "F32") {
                    if count > 0 { memcpy(dst.baseAddress!, base + offset * 4, count * 4) }
                    return
                }
                var index = [Int](repeating: 0, count: shape.count)
                for i in 0..<count {
                    var src = offset
                    for d in 0..<shape.count { src += index[d] * strides[d] }
                    dst[i] = read(base, src, dtype)
                    var d = shape.count - 1
                    while d >= 0 {
                        index[d] += 1
                        if index[d] < shape[d] { break }
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }
        return Tensor(shape: shape, data: out)
    }

    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d] = acc
            acc *= shape[d]
        }
        return strides
    }
}
