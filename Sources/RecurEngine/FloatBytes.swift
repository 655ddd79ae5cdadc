/// Little-endian F32 or F64 values (`size` 4 or 8) starting at `start`, as Float.
func decodeLittleEndianFloats(_ bytes: [UInt8], start: Int, count: Int, size: Int) -> [Float] {
    var values = [Float](repeating: 0, count: count)
    for i in 0..<count {
        let p = start + i * size
        if size == 4 {
            var bits: UInt32 = 0
            for k in 0..<4 { bits |= UInt32(bytes[p + k]) << (8 * UInt32(k)) }
            values[i] = Float(bitPattern: bits)
        } else {
            var bits: UInt64 = 0
            for k in 0..<8 { bits |= UInt64(bytes[p + k]) << (8 * UInt64(k)) }
            values[i] = Float(Double(bitPattern: bits))
        }
    }
    return values
}

/// Bytes that `shape` elements of `size` bytes take, or nil when the product overflows (a
/// corrupt header cannot make a reader index past its data).
func byteCount(shape: [Int], elementSize size: Int) -> Int? {
    var total = size
    for d in shape {
        guard d >= 0 else { return nil }
        let (product, overflow) = total.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        total = product
    }
    return total
}
