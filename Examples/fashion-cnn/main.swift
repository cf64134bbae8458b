// FashionCNN on Fashion-MNIST, as PyTorch's examples/mnist trains its network: the model, the
// loop, the evaluation. `swift run -c release fashion-cnn --help` lists the options (Options.swift).
import Backprop
import Foundation

let opts = Options.parseOrExit()
Parallelism.threads = opts.threads
let (train, test) = opts.loadData()

manualSeed(opts.seed)
var generator = RandomGenerator(seed: opts.seed)
let model = makeFashionCNN(using: &generator)
if let file = opts.initFile { opts.load(model, from: file) }
let optimizer: any Optimizer = opts.optimizer == .adam
    ? Adam(model.parameters(), lr: opts.learningRate)
    : SGD(model.parameters(), lr: opts.learningRate, momentum: opts.momentum)

var report = Report(opts, batchesPerEpoch: (train.count + opts.batchSize - 1) / opts.batchSize)
for epoch in 1...opts.epochs {
    model.train()
    let order = train.order(shuffle: opts.shuffle, using: &generator)
    for start in stride(from: 0, to: train.count, by: opts.batchSize) where !report.done {
        let (images, labels) = train.batch(Array(order[start..<min(start + opts.batchSize, train.count)]))
        let output = model(images)
        let loss = output.crossEntropy(target: labels)
        optimizer.zeroGrad()
        loss.backward()
        optimizer.step()
        report.step(epoch: epoch, loss: loss.item, output: output, labels: labels)
    }
    let (testLoss, accuracy) = test.evaluate(model)
    report.epoch(epoch, testLoss: testLoss, accuracy: accuracy)
    if report.done { break }
}
report.finish(model)
