import Foundation
import Testing

@testable import RecurEngine

/// Bad specs, arrays and checkpoints give one-line errors that name the problem.
@Suite struct BadInputTests {
    static let badSpecs: [(json: String, expected: String)] = [
        (#"{"input_features": 2, "layers": [{"type": "transformer", "units": 4}]}"#, "layers[0].type: unknown layer type 'transformer'"),
        (#"{"input_features": 2, "layers": [{"type": "lstm", "units": 0}]}"#, "layers[0].units: expected a positive integer, got 0"),
        (#"{"input_features": 2, "layers": [{"type": "gru", "units": -3}]}"#, "layers[0].units: expected a positive integer, got -3"),
        (#"{"input_features": 2, "layers": [{"type": "gru", "units": 4, "dropout": 1.0}]}"#, "layers[0].dropout: expected a rate in [0, 1), got 1.0"),
        (#"{"input_features": 2, "layers": [{"type": "lstm", "units": 4, "recurrent_dropout": 1.5}]}"#, "layers[0].recurrent_dropout"),
        (#"{"input_features": 2, "layers": [{"type": "dropout", "rate": 1}]}"#, "layers[0].rate: expected a rate in [0, 1)"),
        (
            #"{"input_features": 2, "layers": [{"type": "lstm", "units": 4}, {"type": "gru", "units": 4}]}"#,
            "layers[1]: a recurrent layer needs a sequence input"
        ),
        (#"{"input_features": 2, "layers": [{"type": "lstm", "units": 4, "colour": "red"}]}"#, "layers[0].colour: unknown key"),
        (#"{"input_features": 2, "layers": [{"type": "lstm", "units": 4, "reset_after": false}]}"#, "layers[0].reset_after: unknown key"),
        (#"{"input_features": 0, "layers": [{"type": "dense", "units": 1}]}"#, "input_features: expected a positive integer, got 0"),
        (#"{"input_features": 2, "layers": []}"#, "layers: a model needs at least one layer"),
        (#"{"input_features": 2, "layers": [{"type": "lstm", "units": 4, "merge_mode": "max"}]}"#, "layers[0].merge_mode"),
        (
            #"{"input_features": 2, "layers": [{"type": "lstm", "units": 4, "bidirectional": true, "go_backwards": true}]}"#,
            "go_backwards cannot be combined"
        ),
        (#"{"input_features": 2, "layers": [{"type": "lstm"}]}"#, "layers[0].units: missing"),
        (#"{"input_features": 2, "layers": [{"type": "lstm", "units": 4.5}]}"#, "layers[0].units: expected a positive integer"),
        (#"{"input_features": 1.5, "layers": [{"type": "dense", "units": 1}]}"#, "input_features: expected a positive integer"),
        (#"{"input_features": 2, "layers": [{"type": "lstm", "units": 4}"#, "not valid JSON"),
        (#"{"input_features": 2, "layers": [4]}"#, "layers[0]: expected an object"),
        (#"{"input_features": 2, "layers": [{"type": "lstm", "units": 4, "units": 0}]}"#, "layers[0]: the key 'units' appears twice"),
        (
            #"{"input_features": 2, "input_features": 3, "layers": [{"type": "dense", "units": 1}]}"#,
            "model spec: the key 'input_features' appears twice"
        ),
        (#"{"input_features": 2, "layers": {"type": "dense"}}"#, "layers: expected a list"),
        (
            #"{"input_features": 4611686018427387904, "layers": [{"type": "dense", "units": 1}]}"#,
            "input_features: 4611686018427387904 is more than the 65536 allowed"
        ),
        (#"{"input_features": 2, "layers": [{"type": "lstm", "units": 1048576}]}"#, "layers[0].units: 1048576 is more than the 65536 allowed"),
        (#"{"input_features": 2, "layers": [{"type": "dense", "units": 70000}]}"#, "layers[0].units: 70000 is more than the 65536 allowed"),
        (
            #"{"input_features": 65536, "layers": [{"type": "lstm", "units": 65536, "bidirectional": true}]}"#,
            "layers: the model has 6.87e+10 parameters, more than the 268435456 allowed"
        ),
    ]

    @Test(arguments: badSpecs)
    func badSpecsAreRejectedWithTheirPath(_ bad: (json: String, expected: String)) {
        do {
            _ = try ModelSpec.parse(json: Data(bad.json.utf8))
            Issue.record("accepted \(bad.json)")
        } catch {
            let message = "\(error)"
            #expect(message.contains(bad.expected), "got: \(message)")
            #expect(!message.contains("\n"))
        }
    }

    /// JSON Schema's `integer`: a number with no fractional part, however it is written.
    @Test func wholeNumbersWrittenWithAPointAreIntegers() throws {
        let spec = try ModelSpec.parse(
            json: Data(#"{"input_features": 2.0, "layers": [{"type": "gru", "units": 4.0}, {"type": "dense", "units": 1e0}]}"#.utf8)
        )
        #expect(
            spec
                == (try ModelSpec.parse(
                    json: Data(#"{"input_features": 2, "layers": [{"type": "gru", "units": 4}, {"type": "dense", "units": 1}]}"#.utf8)
                ))
        )
    }

    @Test func npyWithWrongDtypeIsRejected() throws {
        var bytes = [UInt8](NumPyArray(shape: [2], values: [1, 2]).encoded())
        let f4 = Array("<f4".utf8)
        let at = try #require((0..<(bytes.count - 3)).first { Array(bytes[$0..<($0 + 3)]) == f4 })
        bytes.replaceSubrange(at..<(at + 3), with: Array("<i4".utf8))
        #expect(throws: EngineError.invalidArray("dtype <i4 is not supported; save the array as float32 or float64 (little-endian)")) {
            try NumPyArray.decode(Data(bytes))
        }
    }

    /// A header whose shape multiplies past `Int.max` is an error, not a read past the data.
    @Test func hugeShapesAreRejectedBeforeReading() throws {
        var npy = [UInt8](NumPyArray(shape: [2], values: [1, 2]).encoded())
        let shape = Array("(2,)".utf8)
        let at = try #require((0..<(npy.count - shape.count)).first { Array(npy[$0..<($0 + shape.count)]) == shape })
        let huge = Array("(4611686018427387904,)".utf8)
        npy.replaceSubrange(at..<(at + shape.count), with: huge)
        let newline = try #require(npy.firstIndex(of: 10))  // the header's last byte
        npy.removeSubrange((newline - (huge.count - shape.count))..<newline)  // take the growth out of the padding
        #expect(throws: EngineError.invalidArray("shape [4611686018427387904] is too large to hold in memory")) { try NumPyArray.decode(Data(npy)) }

        let header = #"{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#
        var st = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { st.append(contentsOf: $0) }
        st.append(contentsOf: Array(header.utf8))
        #expect(throws: EngineError.self) { try SafeTensors.decode(st) }
        do { _ = try SafeTensors.decode(st) } catch { #expect("\(error)".contains("too large to hold in memory"), "got: \(error)") }
    }

    /// Well-formed files that do not fit: a tensor of the wrong shape, a tensor the spec does not
    /// have, an F16 tensor; `.npy` in Fortran order or big-endian.
    @Test func wellFormedButWrongFilesAreRejected() throws {
        let model = try SequentialModel(
            spec: ModelSpec(inputFeatures: 3, layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 3)), .dense(units: 1)]),
            seed: 1
        )
        let good = try SafeTensors.decode(Checkpoint.encode(model))
        func expectRefused(_ file: SafeTensors, _ message: String) {
            do {
                _ = try Checkpoint.decode(file.encoded())
                Issue.record("accepted: \(message)")
            } catch {
                #expect("\(error)".contains(message), "got: \(error)")
                #expect(!"\(error)".contains("\n"))
            }
        }
        var transposed = good
        let k = try #require(transposed.tensors.firstIndex { $0.name == "layers.0.kernel" })
        transposed.tensors[k].shape = [12, 3]
        expectRefused(transposed, "tensor 'layers.0.kernel' has shape [12, 3]; the spec needs [3, 12]")
        var extra = good
        extra.tensors.append(SafeTensors.Tensor(name: "layers.5.kernel", shape: [1], values: [0]))
        expectRefused(extra, "unexpected tensor 'layers.5.kernel'")

        var f16 = [UInt8](good.encoded())
        let f32 = Array("\"F32\"".utf8)
        let at = try #require((0..<(f16.count - f32.count)).first { Array(f16[$0..<($0 + f32.count)]) == f32 })
        f16.replaceSubrange(at..<(at + f32.count), with: Array("\"F16\"".utf8))
        #expect(throws: EngineError.self) { try Checkpoint.decode(Data(f16)) }

        for (find, replace, message) in [
            ("'fortran_order': False", "'fortran_order': True ", "Fortran order"), ("'<f4'", "'>f4'", "dtype >f4 is not supported"),
        ] {
            var npy = [UInt8](NumPyArray(shape: [2, 2], values: [1, 2, 3, 4]).encoded())
            let from = Array(find.utf8)
            let i = try #require((0..<(npy.count - from.count)).first { Array(npy[$0..<($0 + from.count)]) == from })
            npy.replaceSubrange(i..<(i + from.count), with: Array(replace.utf8))
            do {
                _ = try NumPyArray.decode(Data(npy))
                Issue.record("accepted \(replace)")
            } catch { #expect("\(error)".contains(message), "got: \(error)") }
        }
    }

    @Test func truncatedNpyIsRejected() {
        let data = NumPyArray(shape: [4, 2], values: Array(repeating: 1, count: 8)).encoded()
        #expect(throws: EngineError.self) { try NumPyArray.decode(data.prefix(data.count - 3)) }
        #expect(throws: EngineError.self) { try NumPyArray.decode(Data("not numpy".utf8)) }
    }

    @Test func truncatedOrCorruptCheckpointsAreRejected() throws {
        let model = try SequentialModel(
            spec: ModelSpec(inputFeatures: 2, layers: [.recurrent(RecurrentSpec(cell: .gru, units: 3)), .dense(units: 1)]),
            seed: 1
        )
        let good = Checkpoint.encode(model)
        let cases: [(Data, String)] = [
            (good.prefix(good.count - 5), "truncated"),
            (good.prefix(4), "8-byte header length"),
            (Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]) + good.dropFirst(8), "header length"),
            (Data(good.prefix(8)) + Data(repeating: 0x41, count: good.count - 8), "not a JSON object"),
            (SafeTensors(metadata: ["format": "other"], tensors: []).encoded(), "format is 'other'"),
            (
                SafeTensors(
                    metadata: ["format": "recur.model.v1", "spec": "{\"input_features\": 2, \"layers\": [{\"type\": \"gru\", \"units\": 3}]}"],
                    tensors: []
                ).encoded(),
                "missing tensor 'layers.0.kernel'"
            ),
        ]
        for (data, expected) in cases {
            do {
                _ = try Checkpoint.decode(data)
                Issue.record("accepted a bad checkpoint (\(expected))")
            } catch {
                #expect("\(error)".contains(expected), "got: \(error)")
            }
        }
    }

    @Test func wrongInputShapeIsRejected() throws {
        let model = try SequentialModel(spec: ModelSpec(inputFeatures: 3, layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 2))]), seed: 1)
        #expect(throws: EngineError.self) { try model.predict([1, 2, 3, 4], count: 1, steps: 2) }
    }
}
