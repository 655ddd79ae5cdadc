import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Minimal HTTP/1.1 over a raw TCP socket, for traffic a real client would never send.
enum RawHTTP {
    /// What came back from one connection: the bytes the server wrote before closing (or a
    /// timeout), and the failed call with its errno when the exchange broke off, so a test that
    /// got no response can say why.
    struct Exchange {
        var reply: [UInt8] = []
        var failure: String?
    }

    /// Sends `bytes` and returns everything the server writes before closing (or a timeout).
    static func exchange(port: Int, _ bytes: [UInt8], timeout: Double = 5) -> [UInt8] {
        attempt(port: port, bytes, timeout: timeout).reply
    }

    static func attempt(port: Int, _ bytes: [UInt8], timeout: Double = 5) -> Exchange {
        func failed(_ call: String) -> String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
        signal(SIGPIPE, SIG_IGN)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return Exchange(failure: failed("socket")) }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { return Exchange(failure: failed("connect to 127.0.0.1:\(port)")) }
        var result = Exchange()
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 {
                result.failure = failed("send after \(sent) of \(bytes.count) bytes")
                break
            }
            sent += n
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 { result.failure = (result.failure.map { $0 + "; " } ?? "") + failed("recv after \(result.reply.count) bytes") }
            if n <= 0 { break }
            result.reply += buffer[0..<n]
        }
        return result
    }

    /// The status code of a request with `body` (nil when no response came).
    static func status(port: Int, method: String = "POST", path: String, token: String?, body: [UInt8], contentLength: Int? = nil) -> Int? {
        statusReport(port: port, method: method, path: path, token: token, body: body, contentLength: contentLength).code
    }

    /// The status code, and what came back instead when there is none (for a test's message).
    static func statusReport(
        port: Int,
        method: String = "POST",
        path: String,
        token: String?,
        body: [UInt8],
        contentLength: Int? = nil
    ) -> (code: Int?, detail: String) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        head += "Content-Length: \(contentLength ?? body.count)\r\n\r\n"
        let exchange = attempt(port: port, Array(head.utf8) + body)
        let text = String(decoding: exchange.reply.prefix(64), as: UTF8.self)
        let detail = "reply \(exchange.reply.count) bytes \(text.debugDescription)" + (exchange.failure.map { "; \($0)" } ?? "")
        guard text.hasPrefix("HTTP/1.1 "), let code = Int(text.dropFirst(9).prefix(3)) else { return (nil, detail) }
        return (code, detail)
    }
}
