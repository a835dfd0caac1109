import Foundation
import WebAPI

/// The frame every page shares, and the answers that are a page.
enum Page {
    /// Headers of every page: scripts and styles from this site only, never framed.
    static let headers = [
        "Content-Security-Policy":
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
    ]

    static func render(
        title: String, body: HTML, viewer: WebUI.Viewer?, csrf: String? = nil, status: Int = 200,
        notice: (done: String?, error: String?) = (nil, nil)
    ) -> APIResponse {
        var user: HTML = ""
        if let viewer {
            user = "<span class=\"who\">\(viewer.name)</span>"
            if viewer.token != nil, let csrf {
                user = """
                    \(user)<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="\(csrf)">\
                    <button type="submit" class="link">sign out</button></form>
                    """
            }
        }
        var banner: HTML = ""
        if let done = notice.done { banner = "<p class=\"notice\" id=\"notice\">\(done)</p>" }
        if let error = notice.error { banner = "<p class=\"error\" id=\"error\">\(error)</p>" }
        let page: HTML = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) · wfd</title><link rel="stylesheet" href="/static/wfd.css"><script src="/static/wfd.js" defer></script></head>
            <body><header><a href="/" class="brand">wfd</a><nav><a href="/">Jobs</a><a href="/approvals">Approvals</a>\
            <a href="/api/openapi.yaml">API</a></nav><div class="user">\(user)</div></header>
            <main>\(banner)\(body)</main></body></html>
            """
        return APIResponse(
            status: status, contentType: "text/html; charset=utf-8", body: Data(page.text.utf8), headers: headers)
    }

    static func problem(status: Int, _ message: String) -> APIResponse {
        render(
            title: "Error \(status)",
            body: "<h1>\(status)</h1><p class=\"error\">\(message)</p><p><a href=\"/\">Jobs</a></p>",
            viewer: nil, status: status)
    }

    /// A hidden field with the viewer's CSRF token and where to come back to.
    static func formFields(_ csrf: String, back: String) -> HTML {
        "<input type=\"hidden\" name=\"csrf\" value=\"\(csrf)\"><input type=\"hidden\" name=\"back\" value=\"\(back)\">"
    }
}
