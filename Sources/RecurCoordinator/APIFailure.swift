import Foundation
import HTTPTypes
import OpenAPIRuntime
import RecurAPI
import RecurStore
import RecurSweep

/// An API error: its status, its stable code (what programs act on) and one line for a person.
public struct APIFailure: Error, HTTPResponseConvertible, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: API.ErrorCode
    public var message: String
    /// With `invalid_sweep`: every problem of the definition, with its YAML path.
    public var problems: [String]?

    public init(_ status: HTTPResponse.Status, _ code: API.ErrorCode, _ message: String, problems: [String]? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems
    }

    public var httpStatus: HTTPResponse.Status { status }
    public var description: String { message }

    public static func badRequest(_ message: String) -> APIFailure { APIFailure(.badRequest, .badRequest, message) }

    /// The body every error response carries.
    public var body: API.ErrorBody { API.ErrorBody(error: message, code: code, problems: problems) }

    /// Maps what the coordinator and the store throw to statuses and codes.
    public init(_ error: any Error) {
        switch error {
        case let failure as APIFailure:
            self = failure
        case let error as StoreError:
            switch error {
            case .notFound(let missing, let m):
                let code: API.ErrorCode
                switch missing {
                case .sweep: code = .unknownSweep
                case .trial: code = .unknownTrial
                case .worker: code = .unknownWorker
                case .checkpoint: code = .noCheckpoint
                case .lease: code = .unknownLease
                case .token: code = .notFound
                }
                self.init(.notFound, code, m)
            case .staleLease(let m): self.init(.conflict, .leaseGone, m)
            case .conflict(let m): self.init(.conflict, .conflict, m)
            case .duplicate(let m): self.init(.conflict, .sweepExists, m)
            case .newerDatabase, .olderDatabase, .foreignDatabase: self.init(.internalServerError, ._internal, error.description)
            }
        case let error as SweepSpecError:
            self.init(.unprocessableContent, .invalidSweep, error.problems.joined(separator: "; "), problems: error.problems)
        case let error as APIError:
            self.init(.badRequest, .badRequest, error.description)
        default:
            self.init(.internalServerError, ._internal, "\(error)")
        }
    }
}
