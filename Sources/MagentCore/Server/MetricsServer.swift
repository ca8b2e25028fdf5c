// The optional Prometheus endpoint (--metrics-port): libevent's own HTTP
// server on a thread and event base of its own, answering GET /metrics with
// the counters of `stats proxy` and `stats servers`. Nothing on the request
// path waits for it: it only reads the relaxed counters.
import CLibEvent
import Glibc

final class MetricsServer {
    private let context: ProxyContext
    private let listener: Int32
    private var thread = pthread_t()

    /// `listener`: a bound, listening, non-blocking socket; the server owns it.
    init(context: ProxyContext, listener: Int32) {
        self.context = context
        self.listener = listener
    }

    /// Runs the HTTP server on a new thread until the process exits.
    func start() {
        let retained = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(&thread, nil, { retained in
            let server = Unmanaged<MetricsServer>.fromOpaque(retained!).takeUnretainedValue()
            server.serve()
            return nil
        }, retained)
        if status != 0 { context.logger.error("cannot start the metrics thread: \(errorText(status))") }
    }

    private func serve() {
        guard let base = event_base_new(), let http = evhttp_new(base) else {
            context.logger.error("metrics: cannot create the HTTP server")
            return
        }
        evhttp_set_allowed_methods(http, UInt16(EVHTTP_REQ_GET.rawValue | EVHTTP_REQ_HEAD.rawValue))
        evhttp_set_timeout(http, 10)
        evhttp_set_max_headers_size(http, 16 * 1024)
        evhttp_set_max_body_size(http, 0)
        evhttp_set_gencb(http, { request, context in
            guard let request, let context else { return }
            Unmanaged<MetricsServer>.fromOpaque(context).takeUnretainedValue().answer(request)
        }, Unmanaged.passUnretained(self).toOpaque())
        guard evhttp_accept_socket_with_handle(http, listener) != nil else {
            context.logger.error("metrics: cannot accept on the metrics listener")
            return
        }
        event_base_dispatch(base)
        context.logger.error("metrics: event loop stopped")
    }

    /// /metrics: the exposition; anything else: 404.
    private func answer(_ request: OpaquePointer) {
        guard let body = evbuffer_new() else {
            evhttp_send_error(request, 500, nil)
            return
        }
        defer { evbuffer_free(body) }
        let path = evhttp_request_get_evhttp_uri(request).flatMap { evhttp_uri_get_path($0) }.map { String(cString: $0) } ?? ""
        guard path == "/metrics" else {
            evhttp_send_error(request, 404, nil)
            return
        }
        var text = PrometheusExposition.render(context: context)
        text.withUTF8 { _ = evbuffer_add(body, $0.baseAddress, $0.count) }
        evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type", PrometheusExposition.contentType)
        evhttp_send_reply(request, 200, "OK", body)
    }
}
