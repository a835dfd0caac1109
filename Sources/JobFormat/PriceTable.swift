import Foundation
import Yams

/// What model calls cost: the host's prices file (`/etc/wfd/prices.yaml`) with a job's own
/// `prices:` over it.
///
/// A model is found by its exact name, else by the longest name in the table that it starts
/// with, so `claude-sonnet-4-5-20250929` takes the price of `claude-sonnet-4-5`.
public struct PriceTable: Sendable, Equatable {
    public var models: [String: ModelPrice]
    /// When the prices were checked, as the file says (`checked:`).
    public var checked: String?

    public init(models: [String: ModelPrice] = [:], checked: String? = nil) {
        self.models = models
        self.checked = checked
    }

    /// The price of `model`, or nil when the table has none.
    public func price(of model: String) -> ModelPrice? {
        if let exact = models[model] { return exact }
        let prefix = models.keys.filter {
            model.hasPrefix($0) && model.dropFirst($0.count).first.map("-.:@".contains) == true
        }
        .max { $0.count < $1.count }
        return prefix.flatMap { models[$0] }
    }

    /// This table with `overrides` (a job's `prices:`) over it.
    public func merging(_ overrides: [String: ModelPrice]?) -> PriceTable {
        guard let overrides else { return self }
        return PriceTable(models: models.merging(overrides) { _, job in job }, checked: checked)
    }

    /// What `inputTokens` and `outputTokens` of `price` cost, in US dollars.
    public static func cost(_ price: ModelPrice, inputTokens: Int, outputTokens: Int) -> Double {
        (Double(inputTokens) * price.input + Double(outputTokens) * price.output) / 1_000_000
    }

    /// Why a prices file cannot be used, with its line.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Reads the prices file format:
    ///
    ///     checked: 2026-11-29
    ///     models:
    ///       gpt-4o-mini: { input: 0.15, output: 0.60 }   # US dollars per million tokens
    public static func parse(_ text: String, path: String) throws(ParseError) -> PriceTable {
        let node: Node?
        do {
            node = try PlainScalar.compose(text)
        } catch {
            throw ParseError(description: "\(path): not YAML: \(error)")
        }
        guard case .mapping(let root)? = node else {
            throw ParseError(description: "\(path): expected a mapping with 'models:'")
        }
        var table = PriceTable(checked: root["checked"]?.string)
        guard case .mapping(let models)? = root["models"] else {
            throw ParseError(description: "\(path): 'models:' is missing or not a mapping of model → { input, output }")
        }
        for (key, value) in models {
            let line = value.mark?.line ?? key.mark?.line ?? 1
            guard let name = key.string, case .mapping(let fields) = value,
                let input = fields["input"]?.float, let output = fields["output"]?.float, input >= 0, output >= 0,
                input.isFinite, output.isFinite
            else {
                throw ParseError(
                    description:
                        "\(path):\(line): a model's price is { input: N, output: N } in dollars per million tokens")
            }
            table.models[name] = ModelPrice(input: input, output: output)
        }
        return table
    }
}
