"""Sentence splitters on the five real articles: same sentences as pysbd (the reference) and speed.

    pip install sentencex syntok  # not dependencies of nkru
    NKRU_CACHE_DIR=off python benchmarks/compare_splitters.py

Run from the repository root. Figures go into docs/performance.md.
"""
import glob
import time

from nkru.text import FoldedText, fold
texts = [open(p).read() for p in sorted(glob.glob('data/sources/*.txt'))]

def by_line(split, text):
    out = []
    for raw in FoldedText(text).nfc.splitlines():
        line = fold(raw)
        if not line: continue
        for piece in split(line) or [line]:
            n = fold(piece)
            if n and any(c.isalnum() for c in n): out.append(n)
    return out

import pysbd
seg = pysbd.Segmenter(language="de", clean=False, char_span=False)
import sentencex
import syntok.segmenter as synseg
def syntok_split(line):
    return ["".join(t.spacing + t.value for t in sent) for para in synseg.process(line) for sent in para]
splitters = {
    "pysbd": lambda l: seg.processor(l).process(),
    "sentencex": lambda l: list(sentencex.segment("de", l)),
    "syntok": syntok_split,
}
ref = [by_line(splitters["pysbd"], t) for t in texts]
big = "\n".join(texts) * 40
for name, fn in splitters.items():
    same = sum(by_line(fn, t) == r for t, r in zip(texts, ref))
    diff = sum(len(set(by_line(fn, t)) ^ set(r)) for t, r in zip(texts, ref))
    t0 = time.perf_counter(); by_line(fn, big); dt = time.perf_counter() - t0
    print(f"{name}: same sentences on {same}/5 articles, {diff} sentences differ; {len(big)/1e3/dt:.0f} KB/s on {len(big)/1e6:.1f} MB")
