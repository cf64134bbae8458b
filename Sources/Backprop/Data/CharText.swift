import Foundation

/// A text read as characters for a character-level model (../shared/MODELS.md's CharGPT data):
/// the vocabulary is the sorted list of its distinct characters, each character encoded as its
/// index; the first `int(0.9 n)` tokens are the training split, the rest validation.
public struct CharText: Sendable {
    /// The distinct characters, sorted by their Unicode scalars (Python's `sorted(set(text))`).
    public let vocabulary: [Character]
    /// Every character of the text as its index in `vocabulary`.
    public let tokens: [Int]
    private let index: [Character: Int]

    /// The text `text`, split into Unicode scalars (as Python's `str` iterates).
    public init(_ text: String) {
        let chars = text.unicodeScalars.map { Character($0) }
        let sorted = Set(chars).sorted { $0.unicodeScalars.first!.value < $1.unicodeScalars.first!.value }
        vocabulary = sorted
        index = Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1, $0) })
        tokens = chars.map { [index] in index[$0]! }
    }

    /// The text of the file at `path` (UTF-8); throws `DataError` when it cannot be read or has fewer than 2 characters.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw DataError(file: path, "not UTF-8 text") }
        self.init(text)
        guard tokens.count >= 2 else { throw DataError(file: path, "\(tokens.count) characters; at least 2 are needed") }
    }

    /// The number of distinct characters V.
    public var vocabularySize: Int { vocabulary.count }
    /// The training tokens: the first int(0.9 n).
    public var train: ArraySlice<Int> { tokens[..<Int(0.9 * Double(tokens.count))] }
    /// The validation tokens: the rest.
    public var validation: ArraySlice<Int> { tokens[Int(0.9 * Double(tokens.count))...] }

    /// The index of `c`, or nil when the text does not contain it.
    public func encode(_ c: Character) -> Int? { index[c] }
    /// The characters of `tokens`.
    public func decode(_ tokens: [Int]) -> String { String(tokens.map { vocabulary[$0] }) }

    /// A batch of `batchSize` rows from `split`: row j is x = split[o ..< o+T], y = split[o+1 ..< o+T+1],
    /// with o drawn uniform in [0, len - T) from `generator` (random) or, not shuffled,
    /// o = ((step * B + j) * T) mod (len - T). Both int64 [B, T].
    public static func batch(_ split: ArraySlice<Int>, step: Int, batchSize: Int, blockSize: Int,
                             using generator: inout RandomGenerator?) -> (x: Tensor, y: Tensor) {
        let n = split.count, t = blockSize
        precondition(n > t, "CharText.batch: a split of \(n) tokens is too short for a block of \(t)")
        var xs: [Int] = [], ys: [Int] = []
        xs.reserveCapacity(batchSize * t); ys.reserveCapacity(batchSize * t)
        let base = split.startIndex
        for j in 0..<batchSize {
            let o: Int
            if generator != nil {
                o = Int(generator!.next() % UInt64(n - t))
            } else {
                o = ((step * batchSize + j) * t) % (n - t)
            }
            xs += split[(base + o)..<(base + o + t)]
            ys += split[(base + o + 1)..<(base + o + t + 1)]
        }
        return (Tensor(indices: xs, shape: [batchSize, t]), Tensor(indices: ys, shape: [batchSize, t]))
    }
}
