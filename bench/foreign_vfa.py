#!/usr/bin/env python3
"""A second, independent VFA generator: the yardstick "another generator".

The finder and the U-net learn from `aac synth` alone, so a test on
`aac synth`'s own styles cannot show which of its drawing habits they
learned. This script draws lateral spines its own way (numpy + PIL, written
apart from `crates/aac-synth`: other body outlines, texture, posterior
elements, sacrum, pelvis, ribs springing from the thoracic bodies,
soft-tissue and noise models, other fields of view and pixel sizes) and
writes a dataset in the contract of docs/data-format.md (images, 30-point
landmarks, masks, scores.csv, and truth.json with each scan's pixel size
and what was drawn; `crest_top`, since 0.12.0, is the top of the iliac
wing in image pixels, or null where no wing is drawn: the images are
those of before). Then, with `--model`, it runs `aac landmarks` and `aac
predict` (true and found points) and prints the table of
bench/landmarks_held_out.py.

    cargo build --release
    python3 bench/foreign_vfa.py --out /tmp/foreign [--n 100] [--seed 7]
        [--model model.aac]

Ground truth: the 20 spine points are the bodies' corners as drawn (a
fractured body's real corners); L5 is the lowest body above the sacrum (no
transitional anatomy is drawn); the aorta points lie on the walls at each
disc's mid-point, along the spine's local anterior direction; a wall's
sub-score is its calcified length over the segment between the disc levels
above and below, measured along the aorta (Kauppila's thirds).
"""

import argparse
import csv
import json
import math
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

LEVELS = [f"T{i}" for i in range(4, 13)] + [f"L{i}" for i in range(1, 6)]


def rot(v, a):
    c, s = math.cos(a), math.sin(a)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def spine(rng, fractures):
    """Bodies from L5 up to T4 in mm (y down, anterior +x): for each level
    its four corners (sup-post, sup-ant, inf-ant, inf-post), its up and
    anterior unit vectors, and the sacrum's S1 endplate."""
    slope = math.radians(rng.uniform(28, 50))  # S1 endplate tilt
    lordosis = math.radians(rng.uniform(30, 62))
    kyphosis = math.radians(rng.uniform(25, 55))
    # How the curvature is shared between levels, L5/S1 the largest.
    lumb_w = np.array([0.32, 0.25, 0.19, 0.14, 0.10])  # S1/L5 .. L2/L1
    thor_w = np.full(9, 1 / 9)
    theta = slope  # u = (sin t, -cos t): t > 0 leans anterior going up
    s1_half = rng.uniform(17, 22)
    p = np.array([0.0, 0.0])  # S1 endplate centre
    bodies = []
    disc_l = [rng.uniform(7, 12) for _ in range(5)]
    disc_l[0] *= rng.uniform(0.5, 1.0)  # L5/S1 often narrower
    degenerate = rng.random() < 0.3
    for idx in range(13, -1, -1):  # L5 (13) up to T4 (0)
        name = LEVELS[idx]
        lumbar = name.startswith("L")
        k = 13 - idx  # 0 for L5
        delta = -lordosis * lumb_w[k] if lumbar else kyphosis * thor_w[idx]
        if lumbar:
            disc = disc_l[k] * (rng.uniform(0.3, 0.8) if degenerate and rng.random() < 0.4 else 1)
        else:
            disc = rng.uniform(3.5, 6.5)
        theta_mid = theta + delta / 2
        u_mid = np.array([math.sin(theta_mid), -math.cos(theta_mid)])
        p = p + u_mid * disc
        theta += delta
        u = np.array([math.sin(theta), -math.cos(theta)])
        n = np.array([math.cos(theta), math.sin(theta)])
        size = 1.0 + 0.012 * (k if lumbar else 0)
        if lumbar:
            h = rng.uniform(24, 29) * (1 - 0.015 * (4 - k))
            d = rng.uniform(34, 44) * size
        else:
            t = idx / 8  # 0 at T4, 1 at T12
            h = rng.uniform(16, 19) + 6 * t
            d = rng.uniform(24, 28) + 8 * t
        ha, hp = h, h
        kind = None
        if name in fractures:
            kind = fractures[name]
            if kind == "wedge":
                ha = h * rng.uniform(0.55, 0.8)
            elif kind == "crush":
                ha = h * rng.uniform(0.55, 0.75)
                hp = h * rng.uniform(0.65, 0.85)
        ip = p - n * d / 2
        ia = p + n * d / 2
        sp = ip + u * hp
        sa = ia + u * ha
        bodies.append(dict(name=name, corners=[sp, sa, ia, ip], u=u, n=n, d=d, h=h, kind=kind))
        p = (sp + sa) / 2
        # next level up starts on this one's superior endplate, its tilt
        # following the endplate (which a wedge tilts too).
        e = sa - sp
        theta = math.atan2(e[1], e[0])
    bodies.reverse()  # T4 first
    s1 = dict(slope=slope, half=s1_half, theta0=slope)
    return bodies, s1


def body_outline(rng, b, steps=10):
    """A body's outline: concave walls, slightly concave endplates (deeply
    for a biconcave fracture), rounded corners."""
    sp, sa, ia, ip = b["corners"]
    u, n = b["u"], b["n"]
    sag_end = rng.uniform(0.4, 1.2) + (rng.uniform(3, 6) if b["kind"] == "biconcave" else 0)
    sag_ant = rng.uniform(1.0, 2.5)
    sag_post = rng.uniform(0.3, 1.2)
    pts = []

    def edge(a, c, inward, sag):
        for i in range(steps):
            t = i / steps
            q = a + (c - a) * t
            pts.append(q + inward * sag * math.sin(math.pi * t))

    edge(sp, sa, -u, sag_end)  # superior endplate, dipping down
    edge(sa, ia, -n, sag_ant)
    edge(ia, ip, u, sag_end)
    edge(ip, sp, n, sag_post)
    return pts


def fill(shape, poly_px):
    img = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(img).polygon([tuple(map(float, q)) for q in poly_px], fill=255)
    return np.asarray(img, dtype=np.float32) / 255.0


def erode(mask, px):
    img = Image.fromarray((mask * 255).astype(np.uint8))
    size = max(3, int(round(px)) * 2 + 1)
    return np.asarray(img.filter(ImageFilter.MinFilter(size)), dtype=np.float32) / 255.0


def blur(a, r, ry=None):
    """Gaussian blur of standard deviation r pixels across and ry (default
    r) down (by FFT, edges reflected)."""
    ry = r if ry is None else ry
    if max(r, ry) <= 0.2:
        return a
    pad = int(3 * max(r, ry)) + 1
    p = np.pad(a, pad, mode="reflect")
    fy = np.fft.fftfreq(p.shape[0])[:, None]
    fx = np.fft.rfftfreq(p.shape[1])[None, :]
    g = np.exp(-2 * math.pi**2 * ((r * fx) ** 2 + (ry * fy) ** 2))
    out = np.fft.irfft2(np.fft.rfft2(p) * g, s=p.shape)
    return out[pad:-pad, pad:-pad].astype(np.float32)


def texture(rng, shape, grain_px):
    """Coarse trabecular texture with a vertical grain: white noise blurred
    more down the columns than across, folded so that thin bright struts
    separate darker spaces."""
    t = blur(rng.normal(size=shape).astype(np.float32), grain_px * 0.6, grain_px * 1.8)
    t = 1 - np.abs(t / (t.std() + 1e-6))  # ridges where the field crosses zero
    return (t - t.mean()) / (t.std() + 1e-6)


def polyline(draw, pts, width, fill_value):
    draw.line([tuple(map(float, q)) for q in pts], fill=fill_value, width=max(1, int(round(width))), joint="curve")


def generate(rng, sid):
    px = rng.uniform(0.38, 0.62)  # mm per pixel
    view = rng.choice(["whole", "lumbar", "lumbar"])
    fractures = {}
    if rng.random() < 0.25:
        lvl = rng.choice(["T11", "T12", "L1", "L2", "L3", "T8", "T10"])
        fractures[lvl] = rng.choice(["wedge", "biconcave", "crush"])
    bodies, s1 = spine(rng, fractures)
    by = {b["name"]: b for b in bodies}
    # Rotate so that L1-L4 stands within ±12 degrees of vertical.
    l1c = np.mean(by["L1"]["corners"], axis=0)
    l4c = np.mean(by["L4"]["corners"], axis=0)
    axis = l1c - l4c
    tilt = math.atan2(axis[0], -axis[1])
    spin = -tilt + math.radians(rng.uniform(-12, 12))

    def tr(q):
        return rot(q, spin)

    for b in bodies:
        b["corners"] = [tr(c) for c in b["corners"]]
        b["u"], b["n"] = tr(b["u"]), tr(b["n"])
    s1_theta = s1["theta0"] + spin
    s1_u = np.array([math.sin(s1_theta), -math.cos(s1_theta)])
    s1_n = np.array([math.cos(s1_theta), math.sin(s1_theta)])
    s1_c = tr(np.array([0.0, 0.0]))
    # Field of view (mm): top and bottom, then the width around the spine.
    top_level = "T5" if view == "whole" else rng.choice(["T9", "T10", "T11"])
    top = min(c[1] for c in by[top_level]["corners"]) - rng.uniform(5, 25)
    bottom = s1_c[1] + rng.uniform(25, 70)
    x_mid = np.mean([np.mean(b["corners"], axis=0)[0] for b in bodies if b["name"].startswith("L")])
    left = x_mid - rng.uniform(70, 95)
    right = x_mid + rng.uniform(80, 120)
    W, H = int((right - left) / px), int((bottom - top) / px)
    origin = np.array([left, top])

    def P(q):
        return (np.asarray(q) - origin) / px

    shape = (H, W)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    # Soft tissue: the abdomen bright, the lungs dark above a domed
    # diaphragm, air beyond the skin in front and behind.
    dia_y = P(np.mean(by["T12"]["corners"], axis=0))[1] + rng.uniform(-40, 20) / px
    tissue = np.full(shape, rng.uniform(0.9, 1.2), np.float32)
    dome = dia_y + ((xx - W * 0.6) / W) ** 2 * rng.uniform(60, 160) / px
    lung = np.clip((dome - yy) / (15 / px), 0, 1)
    tissue -= lung * rng.uniform(0.35, 0.6) * (xx > P(np.mean(by["T10"]["corners"], axis=0))[0] - 20 / px)
    skin_front = P([x_mid + rng.uniform(60, 130), 0])[0]
    skin_back = P([x_mid - rng.uniform(45, 70), 0])[0]
    tissue *= np.clip((skin_front - xx) / (8 / px), 0, 1) * np.clip((xx - skin_back) / (8 / px), 0, 1)
    tissue += blur(rng.normal(size=shape).astype(np.float32), 12 / px) * 0.6
    bone = np.zeros(shape, np.float32)
    draw_layers = []
    rim_mm = rng.uniform(0.8, 1.8)
    cortical = rng.uniform(0.7, 1.1)
    trab = rng.uniform(0.35, 0.6)
    grain = rng.uniform(1.0, 2.2) / px
    tex = texture(rng, shape, grain)
    # Posterior elements, behind every body: a pedicle, then the arch
    # (lamina and facets) and a spinous process pointing back and down,
    # overlapping their neighbours.
    post = np.zeros(shape, np.float32)
    for b in bodies:
        sp, sa, ia, ip = b["corners"]
        u, n = b["u"], b["n"]
        lumbar = b["name"].startswith("L")
        h = b["h"]
        top = sp - u * h * 0.05
        ped_len = rng.uniform(10, 15)
        ped = [top, top - n * ped_len, top - n * ped_len - u * h * 0.45, top - u * h * 0.45]
        post += fill(shape, [P(q) for q in ped]) * rng.uniform(0.45, 0.7)
        # The arch: from the pedicle's end, up and down to the facets.
        arch_c = top - n * (ped_len + rng.uniform(6, 10)) - u * h * 0.25
        arch = [arch_c + u * h * 0.55, arch_c - n * 8 + u * h * 0.3, arch_c - n * 8 - u * h * 0.75, arch_c - u * h * 0.6 + n * 2]
        post += fill(shape, [P(q) for q in arch]) * rng.uniform(0.45, 0.75)
        # The spinous process: back and down, steeply on thoracic levels.
        down = math.radians(rng.uniform(10, 30) if lumbar else rng.uniform(40, 60))
        dirv = -n * math.cos(down) - u * math.sin(down)
        perp = u * math.cos(down) - n * math.sin(down)
        length = rng.uniform(22, 32) if lumbar else rng.uniform(28, 40)
        w_sp = rng.uniform(9, 14) if lumbar else rng.uniform(5, 8)
        root = arch_c - n * 6 - u * h * 0.1
        proc = [root + perp * w_sp / 2, root + dirv * length + perp * w_sp / 3, root + dirv * (length + 3), root + dirv * length - perp * w_sp / 3, root - perp * w_sp / 2]
        post += fill(shape, [P(q) for q in proc]) * rng.uniform(0.4, 0.7)
        for fy in (0.5, -0.65):  # facets, above and below
            fc = P(arch_c + u * h * fy - n * 2)
            r = rng.uniform(3, 5) / px
            post += np.clip(1 - ((xx - fc[0]) ** 2 + (yy - fc[1]) ** 2) / r**2, 0, 1) * rng.uniform(0.3, 0.6)
    post = blur(post, 0.8 / px) * (1 + 0.25 * tex)
    bone += post
    # Bodies: a thin bright shell (brightest along the endplates), coarse
    # texture inside.
    for b in bodies:
        outline = [P(q) for q in body_outline(rng, b)]
        m = fill(shape, outline)
        inner = erode(m, rim_mm / px)
        shell = m - inner
        end_boost = 1 + 0.5 * np.abs(np.clip(((yy - P(np.mean(b["corners"], axis=0))[1]) / (b["h"] / 2 / px)), -1, 1)) ** 4
        bone += shell * cortical * end_boost + inner * trab * (1 + 0.45 * tex) * rng.uniform(0.85, 1.15)
        if rng.random() < 0.25 and b["name"].startswith("L"):
            # Osteophyte at an anterior corner.
            c = P(b["corners"][rng.choice([1, 2])])
            r = rng.uniform(2, 4) / px
            bone += np.clip(1 - ((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / r**2, 0, 1) * cortical * 0.8
    # Sacrum: one fused bone below S1, curving back then forward, tapering,
    # faint ridges where its discs were; S1's endplate bright.
    theta = s1_theta
    c = s1_c
    left_edge, right_edge = [], []
    ridges = []
    half = s1["half"]
    for i in range(6):
        u_s = np.array([math.sin(theta), -math.cos(theta)])
        n_s = np.array([math.cos(theta), math.sin(theta)])
        w = half * (1 - 0.15 * i)
        left_edge.append(c - n_s * w)
        right_edge.append(c + n_s * w * (1 - 0.05 * i))
        ridges.append((c - n_s * w * 0.8, c + n_s * w * 0.8))
        c = c - u_s * rng.uniform(15, 20)
        theta -= math.radians(rng.uniform(4, 12))
    outline = [P(q) for q in right_edge + left_edge[::-1]]
    m = fill(shape, outline)
    inner = erode(m, rim_mm / px)
    sacrum = (m - inner) * cortical * 0.8 + inner * trab * 1.05 * (1 + 0.4 * tex)
    img = Image.new("L", (W, H), 0)
    d_ = ImageDraw.Draw(img)
    d_.line([tuple(P(left_edge[0])), tuple(P(right_edge[0]))], fill=255, width=max(1, int(rim_mm * 1.5 / px)))
    for a_, b_ in ridges[1:]:
        d_.line([tuple(P(a_)), tuple(P(b_))], fill=90, width=max(1, int(rim_mm / px)))
    sacrum += np.asarray(img, dtype=np.float32) / 255.0 * cortical * m
    bone += sacrum
    # Iliac wing over L4-S1: a broad plate with a bright crest.
    crest_top = None
    if rng.random() < 0.85:
        crest = (np.mean(by["L4"]["corners"], axis=0) + np.mean(by["L5"]["corners"], axis=0)) / 2
        crest = crest + by["L4"]["n"] * rng.uniform(-25, 25) + by["L4"]["u"] * rng.uniform(-8, 12)
        cc = P(crest)
        crest_top = cc  # the wing's outline is an ellipse whose top is cc
        ax, ay = rng.uniform(55, 85) / px, rng.uniform(50, 80) / px
        e = ((xx - cc[0]) / ax) ** 2 + ((yy - cc[1] - ay) / ay) ** 2
        wing = (e < 1).astype(np.float32)
        rim = wing - erode(wing, rng.uniform(2, 4) / px)
        bone += blur(wing * rng.uniform(0.25, 0.45) + rim * rng.uniform(0.3, 0.6), 1.5 / px)
    # Ribs: from the costovertebral joint at the back of each thoracic
    # body, back to the rib's angle, then forward and down across the
    # spine (the lateral projection of the arc); the 11th and 12th short.
    img = Image.new("L", (W, H), 0)
    draw = ImageDraw.Draw(img)
    for b in bodies:
        if not b["name"].startswith("T"):
            continue
        level = int(b["name"][1:])
        sp = b["corners"][0]
        u, n = b["u"], b["n"]
        head = sp - n * rng.uniform(3, 8) - u * b["h"] * 0.3
        forward = {11: rng.uniform(30, 80), 12: rng.uniform(0, 25)}.get(level, rng.uniform(120, 200))
        for side in (0, 1):
            start = head + (u * rng.uniform(-5, 5) - n * rng.uniform(0, 6)) * side
            back = rng.uniform(25, 45)
            drop_back = rng.uniform(0.2, 0.5)
            drop_fwd = rng.uniform(0.45, 0.8)
            pts = []
            for t in np.linspace(0, 1, 30):
                s_ = t * (back * 2 + forward)
                if s_ < back:  # out to the angle
                    q = start - n * s_ - u * s_ * drop_back
                else:  # the arc back past the head and on forward
                    r_ = s_ - back
                    q = start - n * (back - r_) - u * (back * drop_back + r_ * drop_fwd)
                pts.append(P(q))
            polyline(draw, pts, rng.uniform(8, 12) / px, 255)
    band = np.asarray(img, dtype=np.float32) / 255.0
    ribs = band - erode(band, 1.5 / px) * 0.55
    bone += blur(ribs, 0.8 / px) * rng.uniform(0.2, 0.4)
    # The aorta (a faint tube in front of the spine) with its deposits.
    gap = rng.uniform(2, 12)
    radius = rng.uniform(7, 13)
    discs = []  # disc mid-points and anterior directions, T12/L1 .. L4/L5
    for up, low in zip(["T12", "L1", "L2", "L3", "L4"], ["L1", "L2", "L3", "L4", "L5"]):
        a, c_ = by[up], by[low]
        mid = (a["corners"][2] + a["corners"][3] + c_["corners"][0] + c_["corners"][1]) / 4
        n_ = a["n"] + c_["n"]
        n_ /= np.linalg.norm(n_)
        d_ = (a["d"] + c_["d"]) / 4
        discs.append((mid, n_, d_))
    post_wall = [m + n_ * (d_ + gap + rng.uniform(-1.5, 1.5)) for m, n_, d_ in discs]
    ant_wall = [q + n_ * 2 * radius * rng.uniform(0.9, 1.1) for q, (_, n_, _) in zip(post_wall, discs)]
    centre = [(a + b) / 2 for a, b in zip(post_wall, ant_wall)]
    img = Image.new("L", (W, H), 0)
    draw = ImageDraw.Draw(img)
    ext = [centre[0] + (centre[0] - centre[1]) * 1.5] + centre + [centre[-1] + (centre[-1] - centre[-2]) * 1.2]
    polyline(draw, [P(q) for q in ext], 2 * radius / px, 255)
    aorta = blur(np.asarray(img, dtype=np.float32) / 255.0, 2 / px)
    tissue += aorta * rng.uniform(0.0, 0.08)
    # Deposits: intervals along each wall, per segment between the disc
    # levels, drawn as lines, dashes or dots.
    mask_img = Image.new("L", (W, H), 0)
    mdraw = ImageDraw.Draw(mask_img)
    calc = np.zeros(shape, np.float32)
    severity = rng.choice([0, 0, 0, 1, 1, 2, 3])
    sub = {}
    for wall_i, wall in enumerate((ant_wall, post_wall)):
        label = 1 if wall_i == 0 else 2
        for v in range(4):
            a, b = wall[v], wall[v + 1]
            seg_len = np.linalg.norm(b - a)
            covered = 0.0
            p_dep = [0, 0.15, 0.4, 0.7][severity] * (1.3 if v >= 2 else 0.8)
            if rng.random() < p_dep:
                frac = rng.uniform(0.08, 0.95) if severity >= 2 else rng.uniform(0.05, 0.45)
                start = rng.uniform(0, 1 - frac)
                pieces = 1 if rng.random() < 0.5 else rng.integers(2, 4)
                edges = np.sort(rng.uniform(start, start + frac, size=2 * pieces - 2)) if pieces > 1 else np.array([])
                bounds = np.concatenate([[start], edges, [start + frac]])
                contrast = rng.uniform(0.12, 0.8)
                width = rng.uniform(0.8, 2.6)
                for s0, s1_ in zip(bounds[0::2], bounds[1::2]):
                    if s1_ - s0 <= 0:
                        continue
                    covered += (s1_ - s0) * seg_len
                    q0, q1 = a + (b - a) * s0, a + (b - a) * s1_
                    mdraw.line([tuple(P(q0)), tuple(P(q1))], fill=label, width=max(1, int(round(width / px))))
                    one = Image.new("L", (W, H), 0)
                    ImageDraw.Draw(one).line([tuple(P(q0)), tuple(P(q1))], fill=255, width=max(1, int(round(width / px))))
                    stroke = np.asarray(one, dtype=np.float32) / 255.0
                    if rng.random() < 0.35:  # granular: dots
                        stroke *= (blur(rng.random(shape).astype(np.float32), 0.7 / px) > 0.5)
                    calc += stroke * contrast
            f = covered / seg_len
            sub[(v, wall_i)] = 0 if covered <= 0 else (1 if f <= 1 / 3 else (2 if f <= 2 / 3 else 3))
    # The mask follows a deposit's extent (dots included).
    mask = np.asarray(mask_img, dtype=np.uint8)
    bone += blur(calc, 0.35 / px)
    # Exposure, blur, noise, export processing.
    att = tissue * rng.uniform(0.6, 1.0) + bone
    att = blur(att, rng.uniform(0.5, 1.1))
    sigma = rng.uniform(0.04, 0.12)
    att = att + rng.normal(size=shape).astype(np.float32) * sigma * np.sqrt(np.clip(att, 0.05, None))
    att = np.clip(att, 0, None) ** rng.uniform(0.7, 1.2)
    look = rng.choice(["plain", "plain", "edge", "stretched"])
    if look == "edge":
        att = att + 1.2 * (att - blur(att, 2.0 / px))
    elif look == "stretched":
        lo, hi = np.percentile(att, [2, 99.5])
        att = np.clip((att - lo) / (hi - lo), 0, 1)
    lo, hi = float(att.min()), float(np.percentile(att, 99.9))
    scaled = np.clip((att - lo) / (hi - lo + 1e-6), 0, 1)
    eight = rng.random() < 0.4
    if eight:
        out = (scaled * 255).astype(np.uint8)
    else:
        out = (scaled * rng.uniform(3000, 65535)).astype(np.uint16)
    # Points (image pixels), then the facing.
    spine_pts = []
    for name in ["L1", "L2", "L3", "L4"]:
        spine_pts += [P(c) for c in by[name]["corners"]]
    spine_pts += [P(by["T12"]["corners"][3]), P(by["T12"]["corners"][2])]
    spine_pts += [P(by["L5"]["corners"][0]), P(by["L5"]["corners"][1])]
    aorta_pts = []
    for pw, aw in zip(post_wall, ant_wall):
        aorta_pts += [P(pw), P(aw)]
    pts = spine_pts + aorta_pts
    facing_left = rng.random() < 0.5
    if facing_left:
        out = out[:, ::-1].copy()
        mask = mask[:, ::-1].copy()
        pts = [np.array([W - 1 - q[0], q[1]]) for q in pts]
        if crest_top is not None:
            crest_top = np.array([W - 1 - crest_top[0], crest_top[1]])
    if rng.random() < 0.3:
        # Burned-in text, as scanner software writes it.
        im = Image.fromarray(out)
        d = ImageDraw.Draw(im)
        peak = 255 if eight else int(out.max())
        d.text((5, 5), f"ID {sid}  LAT", fill=peak)
        d.text((5, H - 15), "VFA", fill=peak)
        out = np.asarray(im)
    subs = [sub[(v, w)] for v in range(4) for w in range(2)]
    truth = dict(id=sid, spacing_mm=px, view=view, fractures=fractures, facing_left=bool(facing_left),
                 look=str(look), eight_bit=bool(eight), severity=int(severity),
                 crest_top=None if crest_top is None else [float(crest_top[0]), float(crest_top[1])])
    return out, mask, pts, subs, truth


def write_pts(path, pts):
    with open(path, "w") as f:
        f.write(f"version: 1\nn_points: {len(pts)}\n{{\n")
        for q in pts:
            f.write(f"{q[0]:.3f} {q[1]:.3f}\n")
        f.write("}\n")


def make(out, n, seed):
    for sub in ("images", "landmarks", "masks"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    rows, truths = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        sid = f"foreign{i:04d}"
        img, mask, pts, subs, truth = generate(rng, sid)
        Image.fromarray(img).save(os.path.join(out, "images", sid + ".png"))
        Image.fromarray(mask).save(os.path.join(out, "masks", sid + ".png"))
        write_pts(os.path.join(out, "landmarks", sid + ".pts"), pts)
        rows.append([sid, sum(subs), *subs])
        truths.append(truth)
        print(f"\r{i + 1}/{n}", end="", file=sys.stderr)
    print(file=sys.stderr)
    with open(os.path.join(out, "scores.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "aac24", "l1_ant", "l1_post", "l2_ant", "l2_post", "l3_ant", "l3_post", "l4_ant", "l4_post"])
        w.writerows(rows)
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truths, f, indent=1)


def evaluate(out, model):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from aac_bench import aac
    from landmarks_held_out import judge, predict_pair, summary

    found = out + "-landmarks"
    if not os.path.exists(os.path.join(found, "landmarks.csv")):
        aac("landmarks", "--model", model, "--images", os.path.join(out, "images"), "--out", found)
    rows = list(csv.DictReader(open(os.path.join(found, "landmarks.csv"), newline="")))
    truths = {t["id"]: t for t in json.load(open(os.path.join(out, "truth.json")))}
    spacing = {k: t["spacing_mm"] for k, t in truths.items()}
    scans = judge(rows, os.path.join(out, "landmarks"), found, spacing)
    _, (rg, ig, mg), (rf, i_f, mf) = predict_pair(model, out, out + "-given", out + "-found")
    print("| cohort | kind | scans | median error (mm) | 95th pct (mm) | levels named right | flagged | wrongly named, not flagged | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    groups = {"all": list(scans)}
    for key in ("view", "look"):
        for k, t in truths.items():
            groups.setdefault(f"{key} {t[key]}", []).append(k)
    groups["fractured"] = [k for k, t in truths.items() if t["fractures"]]
    groups["facing left"] = [k for k, t in truths.items() if t["facing_left"]]
    for name, ids in groups.items():
        q, right, flagged, wrong, failed = summary({i: scans[i] for i in ids})
        print(f"| {os.path.basename(out)} | {name} | {len(ids)} | {q(0.5):.2f} | {q(0.95):.2f} | {right}/{len(ids) - failed} | {flagged} | {wrong} | {failed} |")
    print(f"\nAAC24 with true / found points: r {rg:.3f} / {rf:.3f}, ICC {ig:.3f} / {i_f:.3f}, MAE {mg:.2f} / {mf:.2f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--model", default=None, help="a bundle to test on the cohort")
    a = p.parse_args()
    if not os.path.exists(os.path.join(a.out, "scores.csv")):
        make(a.out, a.n, a.seed)
    if a.model:
        evaluate(a.out, a.model)


if __name__ == "__main__":
    main()
