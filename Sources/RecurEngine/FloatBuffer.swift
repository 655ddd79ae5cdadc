#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A 64-byte aligned scratch array of `Float` that grows on demand and is reused across batches.
///
/// Engine buffers live for the life of a model, so hot loops work on raw pointers with no
/// copy-on-write or reference counting. Growing discards the contents.
final class FloatBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init(count: Int = 0) {
        capacity = 0
        pointer = FloatBuffer.allocate(max(count, 16))
        capacity = max(count, 16)
    }

    deinit { free(pointer) }

    /// A pointer to at least `count` floats; contents are undefined after growth.
    @discardableResult
    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            free(pointer)
            pointer = FloatBuffer.allocate(count)
            capacity = count
        }
        return pointer
    }

    /// A pointer to `count` zeroed floats.
    @discardableResult
    func zeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = reserve(count)
        p.update(repeating: 0, count: count)
        return p
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        var raw: UnsafeMutableRawPointer?
        let status = posix_memalign(&raw, 64, count * MemoryLayout<Float>.stride)
        precondition(status == 0 && raw != nil, "out of memory allocating \(count) floats")
        return raw!.bindMemory(to: Float.self, capacity: count)
    }
}
