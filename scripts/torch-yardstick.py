#!/usr/bin/env python3
"""PyTorch yardstick for reid4j's training throughput: the BoT step in plain PyTorch on the same card.

  python3 scripts/torch-yardstick.py --amp            # fp16 autocast + GradScaler
  python3 scripts/torch-yardstick.py                  # fp32 (TF32 allowed, cudnn.benchmark)
  python3 scripts/torch-yardstick.py --device cpu --steps 2 --warmup 1 --height 64 --width 32   # plumbing only

ResNet-50 (last stride 1, random init), global average pooling, BNNeck (BatchNorm1d with a frozen bias),
bias-free linear classifier; cross-entropy with label smoothing 0.1 + batch-hard triplet (margin 0.3) on the
pooled feature; Adam 3.5e-4; batch P x K = 16 x 4 at 3 x 256 x 128, random data already on the device.
Prints one JSON line: {"mode", "device", "images_per_second", ...}. No torchvision needed.
"""
import argparse, json, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ReidResNet50(nn.Module):
    def __init__(self, num_classes, last_stride=1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, last_stride)):
            for i in range(blocks):
                layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
                cin = width * 4
        self.layers = nn.Sequential(*layers)
        self.neck = nn.BatchNorm1d(cin)
        self.neck.bias.requires_grad_(False)
        self.classifier = nn.Linear(cin, num_classes, bias=False)

    def forward(self, x):
        feat = F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1)
        return feat, self.classifier(self.neck(feat))


def batch_hard_triplet(feat, labels, margin):
    feat = feat.float()
    d = torch.cdist(feat, feat).clamp_min(1e-12)
    same = labels[:, None] == labels[None, :]
    hardest_pos = (d * same).max(1).values
    hardest_neg = d.masked_fill(same, float("inf")).min(1).values
    return F.relu(hardest_pos - hardest_neg + margin).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amp", action="store_true")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--ids", type=int, default=751, help="classifier outputs")
    ap.add_argument("--p", type=int, default=16)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100)
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    model = ReidResNet50(a.ids).to(dev).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3.5e-4, weight_decay=5e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=a.amp and cuda)
    n = a.p * a.k
    x = torch.randn(n, 3, a.height, a.width, device=dev)
    y = (torch.randperm(a.ids, device=dev)[: a.p]).repeat_interleave(a.k)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=dev.type, dtype=torch.float16 if cuda else torch.bfloat16,
                            enabled=a.amp):
            feat, logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=0.1) + batch_hard_triplet(feat, y, 0.3)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(a.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    sync()
    dt = time.perf_counter() - t0
    print(json.dumps({
        "mode": "amp" if a.amp else "fp32", "device": torch.cuda.get_device_name(dev) if cuda else "cpu",
        "torch": torch.__version__, "batch": n, "size": [a.height, a.width], "steps": a.steps,
        "seconds": dt, "images_per_second": n * a.steps / dt, "last_loss": float(loss),
        "max_memory_gib": torch.cuda.max_memory_allocated(dev) / 2**30 if cuda else None}))


if __name__ == "__main__":
    main()
