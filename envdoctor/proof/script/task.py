"""The synthetic task every training path learns: how many classes, how visible their patterns are, the data's
seed, and the image dataset the DataLoader test reads (its label is the image's dominant colour)."""

NUM_CLASSES = 10  # a 10-way head: the synthetic task must be learned from the input, not from class priors
TEMPLATE_GAIN = 1.0
DATA_SEED = 1000


class SyntheticImages(object):
    """DataLoader input: uint8 images decoded from a small pool, randomly cropped and flipped, converted to
    normalised float like a torchvision pipeline. The label is the image's dominant colour (learnable).
    `cost` extra blur passes per image stand for a heavier augmentation. It holds no module object, so the
    DataLoader's worker processes can receive it by pickling."""

    def __init__(self, size, length, seed, cost=0):
        import torch
        self.size = size
        self.length = length
        self.cost = cost
        g = torch.Generator().manual_seed(seed)
        pool = 64
        self.labels = torch.randint(0, NUM_CLASSES, (pool,), generator=g)
        colours = torch.rand(NUM_CLASSES, 3, 1, 1, generator=g) * 160
        noise = torch.rand(pool, 3, size + 32, size + 32, generator=g) * 95
        self.images = (noise + colours[self.labels]).to(torch.uint8)
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1) * 255
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1) * 255

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        import torch
        import torch.nn.functional as F
        k = i % len(self.labels)
        img = self.images[k]
        y0, x0 = torch.randint(0, 33, (2,)).tolist()
        img = img[:, y0:y0 + self.size, x0:x0 + self.size]
        if torch.rand(()) < 0.5:
            img = img.flip(2)
        x = img.float()
        for _ in range(self.cost):
            x = F.avg_pool2d(x[None], 3, 1, 1)[0] * 0.5 + x * 0.5
        return (x - self.mean) / self.std, int(self.labels[k])
