import RecurEngine

/// A stacked recurrent architecture in the terms sweeps use, turned into an engine ``ModelSpec``:
/// `depth` recurrent layers (all but the last return sequences), an optional Dropout, and Dense(1).
public struct Architecture: Codable, Sendable, Equatable {
    public var cell: CellKind
    /// Units per layer; one value is used for every layer.
    public var units: [Int]
    public var depth: Int
    /// Input dropout of each recurrent layer.
    public var dropout: Double
    public var recurrentDropout: Double
    public var bidirectional: Bool
    /// A Dropout layer before the Dense head (0: none).
    public var headDropout: Double

    public init(
        cell: CellKind,
        units: [Int],
        depth: Int = 1,
        dropout: Double = 0,
        recurrentDropout: Double = 0,
        bidirectional: Bool = false,
        headDropout: Double = 0
    ) {
        self.cell = cell
        self.units = units
        self.depth = depth
        self.dropout = dropout
        self.recurrentDropout = recurrentDropout
        self.bidirectional = bidirectional
        self.headDropout = headDropout
    }

    /// The engine spec for `features` inputs; throws for invalid values, naming them.
    public func modelSpec(features: Int) throws -> ModelSpec {
        guard depth >= 1 else { throw ForecastError("depth: \(depth) must be ≥ 1") }
        guard units.count == 1 || units.count == depth else {
            throw ForecastError("units: \(units.count) values for depth \(depth); give one value or one per layer")
        }
        var layers: [LayerSpec] = (0..<depth).map { i in
            .recurrent(
                RecurrentSpec(
                    cell: cell,
                    units: units.count == 1 ? units[0] : units[i],
                    returnSequences: i < depth - 1,
                    dropout: dropout,
                    recurrentDropout: recurrentDropout,
                    bidirectional: bidirectional
                )
            )
        }
        if headDropout > 0 { layers.append(.dropout(rate: headDropout)) }
        layers.append(.dense(units: 1))
        let spec = ModelSpec(inputFeatures: features, layers: layers)
        do { try spec.validate() } catch let error as EngineError {
            throw ForecastError("\(error)")
        }
        return spec
    }
}
