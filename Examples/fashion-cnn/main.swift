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

// The training step, recorded once and replayed (the same results as eager) unless --eager: the
// loss and the logits come back for the report.
let step = CompiledStep(model, eager: opts.eager) { inputs in
    let output = model(inputs[0])
    let loss = output.crossEntropy(target: inputs[1])
    optimizer.zeroGrad()
    loss.backward()
    optimizer.step()
    return [loss, output]
}

var report = Report(opts, batchesPerEpoch: (train.count + opts.batchSize - 1) / opts.batchSize)
for epoch in 1...opts.epochs {
    model.train()
    let order = train.order(shuffle: opts.shuffle, using: &generator)
    for start in stride(from: 0, to: train.count, by: opts.batchSize) where !report.done {
        let (images, labels) = train.batch(Array(order[start..<min(start + opts.batchSize, train.count)]))
        let out = step(images, labels)
        report.step(epoch: epoch, loss: out[0].item, output: out[1], labels: labels)
    }
    let (testLoss, accuracy) = test.evaluate(model)
    report.epoch(epoch, testLoss: testLoss, accuracy: accuracy)
    if report.done { break }
}
report.finish(model, step)
