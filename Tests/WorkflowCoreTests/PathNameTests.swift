import Foundation
import Testing
import Yams

@testable import JobFormat
@testable import RunModel

/// The helpers that replaced `NSString` and Foundation's `contains` on the parsing and writing
/// paths give the answers those gave.
@Suite struct PathNameTests {
    static let paths = [
        "/a/b/c", "/a/b/c.yaml", "/a", "/", "", "a", "a/b", "a/", "/a/", "/a/b/", "//a//b", "a//b/", "///", "//",
        "/état/été.yaml", "/a/b\u{301}/c", "/srv/wfd/state/jobs/nightly/runs/20261130T063359.501Z-aa8a4e/run.json",
        "relative/jobs.d/x.yml", "/a/./b", "/a/../b", "./a", "../a",
    ]

    @Test(arguments: paths) func lastIsNSStringsLastPathComponent(path: String) {
        #expect(PathName.last(path) == (path as NSString).lastPathComponent)
    }

    /// NSString's deletingLastPathComponent crashes on `a` and `a/` (swift-corelibs-foundation
    /// here): there the answer is the empty string, as for any relative path of one component.
    @Test(arguments: paths) func parentIsNSStringsDeletingLastPathComponent(path: String) {
        if path == "a" || path == "a/" {
            #expect(PathName.parent(path) == "")
        } else {
            #expect(PathName.parent(path) == (path as NSString).deletingLastPathComponent)
        }
    }

    /// A combining mark right after a slash: NSString takes the two as one character, not a
    /// separator (and its deletingLastPathComponent crashes on it); wfd cuts at the byte.
    @Test func aCombiningMarkAfterASlashIsInTheLastComponent() {
        #expect(PathName.last("/a/\u{301}") == "\u{301}")
        #expect(PathName.parent("/a/\u{301}") == "/a")
    }

    @Test func templateDetectionIsFoundationsContains() {
        let samples = [
            "", "$", "${", "${{", "${{ x }}", "a${{", "$${{", "${ {", "{{", "$ {{", "echo ${HOME}", "é${{é",
            "${{\u{301}",
            "x${", "xx${{y",
        ]
        for sample in samples { #expect(Template.containsTemplate(sample) == sample.contains("${{"), "'\(sample)'") }
    }

    /// The parser skips counting nodes for a file without anchors under `maximumNodes / 2` bytes:
    /// it holds only while no text has twice as many nodes as bytes. The densest forms YAML has.
    @Test func noTextWithoutAnchorsHasTwiceAsManyNodesAsBytes() throws {
        func list(_ item: String, _ count: Int, open: String, close: String) -> String {
            open + Array(repeating: item, count: count).joined(separator: ",") + close
        }
        let numbers: [String] = (0..<500).map { String($0) }
        let dense: [String] = [
            list("{?}", 300, open: "[", close: "]"),
            list("[]", 500, open: "[", close: "]"),
            list("{}", 500, open: "[", close: "]"), list("a", 500, open: "[", close: "]"),
            "{" + numbers.joined(separator: ",") + "}", String(repeating: "- \n", count: 500),
            String(repeating: "-\n", count: 500),
            String(repeating: "[", count: 200) + String(repeating: "]", count: 200),
        ]
        for text in dense {
            let composed = try PlainScalar.compose(text)
            let root = try #require(composed)
            #expect(expandedSize(root, limit: .max) < 2 * text.utf8.count, "\(text.prefix(20))…")
        }
    }
}
