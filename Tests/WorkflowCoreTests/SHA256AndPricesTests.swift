import Foundation
import JobFormat
import RunModel
import Testing

@Suite struct SHA256AndPricesTests {
    /// The test vectors of FIPS 180-2, appendix B.
    @Test func sha256GivesTheStandardDigests() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func pricesAreFoundByNameOrLongestPrefixAndJobsGoOverTheHost() throws {
        let table = try PriceTable.parse(
            """
            checked: 2026-11-29
            models:
              claude-sonnet-4: { input: 3, output: 15 }
              claude-sonnet-4-5: { input: 3.5, output: 16 }
              gpt-4o: { input: 2.5, output: 10 }
            """, path: "prices.yaml")
        #expect(table.checked == "2026-11-29")
        #expect(table.price(of: "claude-sonnet-4-5-20250929") == ModelPrice(input: 3.5, output: 16))
        #expect(table.price(of: "claude-sonnet-4-20250514") == ModelPrice(input: 3, output: 15))
        #expect(table.price(of: "gpt-4o") == ModelPrice(input: 2.5, output: 10))
        #expect(
            table.price(of: "gpt-4o-mini") == ModelPrice(input: 2.5, output: 10), "a variant takes the family's price")
        #expect(table.price(of: "gpt-4") == nil)
        #expect(table.price(of: "gpt-4oo") == nil, "a prefix counts only at a separator")
        let job = table.merging(["gpt-4o": ModelPrice(input: 1, output: 2)])
        #expect(job.price(of: "gpt-4o") == ModelPrice(input: 1, output: 2))
        #expect(PriceTable.cost(ModelPrice(input: 3, output: 15), inputTokens: 1000, outputTokens: 100) == 0.0045)
        #expect(throws: PriceTable.ParseError.self) {
            try PriceTable.parse("models:\n  m: { input: cheap }\n", path: "p.yaml")
        }
    }

    @Test func theShippedPricesFileReads() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/prices.yaml").path
        let table = try PriceTable.parse(try String(contentsOfFile: path, encoding: .utf8), path: path)
        #expect(table.models.count >= 10 && table.checked != nil)
        #expect(table.price(of: "gpt-4o-mini") == ModelPrice(input: 0.15, output: 0.60))
    }
}
