"""Result pictures a person can read: input, ground truth and prediction
side by side, each enlarged (nearest neighbour, whole pixels) to at least
``MIN_LONG_SIDE`` pixels on its long side, with class names and scores
drawn at that size, so that tiny inputs stay legible."""
import math

import cv2
import numpy as np

MIN_LONG_SIDE = 512
FONT = cv2.FONT_HERSHEY_SIMPLEX
SCALE, THICK = 0.55, 1
PAD = 4
GAP = 12  # between panels
TITLE_H = 32
IGNORE = 255


def scale_factor(shape, min_long=MIN_LONG_SIDE):
    """The whole-number enlargement that brings the long side of an image
    of ``shape`` (H, W, ...) to at least ``min_long`` (1 for large ones)."""
    return max(1, math.ceil(min_long / max(shape[:2])))


def enlarge(array, factor):
    """Nearest-neighbour enlargement of an H×W(×C) array by ``factor``."""
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def _text_size(text):
    (w, h), base = cv2.getTextSize(text, FONT, SCALE, THICK)
    return w, h + base


def _free_spot(placed, x, y, w, h, height):
    """The first top y at or below ``y`` (then above it) where a w×h label
    at x covers none of the ``placed`` boxes, or None."""
    def clear(top):
        return all(not (x < p[2] and p[0] < x + w and top < p[3]
                        and p[1] < top + h) for p in placed)
    starts = [y] + sorted({p[3] for p in placed if p[3] > y}) + sorted(
        {p[1] - h for p in placed if p[1] - h < y}, reverse=True)
    for top in starts:
        if 0 <= top <= height - h and clear(top):
            return top
    return None


def _put_label(image, text, x, y, color, placed):
    """Draw ``text`` on a filled box with its top left near (x, y), moved to
    where it covers no label in ``placed``; a label that finds no free spot
    is left out (labels never cover each other). Returns whether drawn."""
    w, h = _text_size(text)
    w, h = w + 2 * PAD, h + 2 * PAD
    height, width = image.shape[:2]
    x = int(min(max(x, 0), max(width - w, 0)))
    y = _free_spot(placed, x, int(min(max(y, 0), max(height - h, 0))), w, h,
                   height)
    if y is None:
        return False
    placed.append((x, y, x + w, y + h))
    cv2.rectangle(image, (x, y), (x + w, y + h), color, -1)
    ink = (0, 0, 0) if sum(color) > 380 else (255, 255, 255)
    cv2.putText(image, text, (x + PAD, y + h - PAD - 3), FONT, SCALE, ink,
                THICK, cv2.LINE_AA)
    return True


def draw_label_map(image, labels, palette, factor, opacity=0.5):
    """``image`` (enlarged RGB) with the H×W class map ``labels`` blended
    in (``IGNORE`` left out)."""
    big = enlarge(labels, factor)
    colors = np.zeros_like(image)
    valid = big != IGNORE
    colors[valid] = np.asarray(palette, np.uint8)[big[valid]]
    out = image.copy()
    out[valid] = (image[valid] * (1 - opacity)
                  + colors[valid] * opacity).astype(np.uint8)
    return out


def draw_instances(image, boxes, labels, classes, palette, factor,
                   scores=None, masks=None, opacity=0.45):
    """``image`` (enlarged RGB) with boxes (N×4, x1 y1 x2 y2 in input
    pixels), masks (N×H×W, optional) and one label per instance: class
    name, and score when given, highest scores first. Labels never
    overlap: one that finds no free spot is left out."""
    out = image.copy()
    for i in range(len(boxes)):
        if masks is not None:
            mask = enlarge(masks[i].astype(bool), factor)
            color = np.asarray(palette[labels[i]], np.float32)
            out[mask] = (out[mask] * (1 - opacity)
                         + color * opacity).astype(np.uint8)
    order = np.argsort(-np.asarray(scores)) if scores is not None \
        else range(len(boxes))
    corners = (np.asarray(boxes).reshape(-1, 4) * factor).round().astype(int)
    colors = [tuple(int(c) for c in palette[label]) for label in labels]
    for i in order:  # every box, then every label over them
        cv2.rectangle(out, tuple(corners[i, :2]), tuple(corners[i, 2:]),
                      colors[i], 2)
    placed = []
    for i in order:
        text = classes[labels[i]] + (f' {scores[i]:.2f}'
                                     if scores is not None else '')
        _put_label(out, text, corners[i, 0],
                   corners[i, 1] - _text_size(text)[1] - 2 * PAD, colors[i],
                   placed)
    return out


def legend(width, entries, palette):
    """A band of ``width`` pixels listing ``(class index, text)`` entries,
    each behind a swatch of its colour, wrapped over as many rows as
    needed."""
    row_h = _text_size('Ag')[1] + 2 * PAD
    rows, x, y = [[]], PAD, 0
    for label, text in entries:
        w = row_h + _text_size(text)[0] + 3 * PAD
        if rows[-1] and x + w > width:
            rows.append([])
            x = PAD
        rows[-1].append((label, text, x))
        x += w
    band = np.full((len(rows) * row_h + PAD, width, 3), 255, np.uint8)
    for row in rows:
        for label, text, x in row:
            color = tuple(int(c) for c in palette[label])
            cv2.rectangle(band, (x, y + PAD), (x + row_h - 2 * PAD,
                                               y + row_h - PAD), color, -1)
            cv2.putText(band, text, (x + row_h, y + row_h - PAD - 3), FONT,
                        SCALE, (0, 0, 0), THICK, cv2.LINE_AA)
        y += row_h
    return band


def titled(panel, title, band=None):
    """``panel`` under a white title band, with ``band`` (a legend) below."""
    head = np.full((TITLE_H, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(head, title, (PAD, TITLE_H - 10), FONT, 0.7, (0, 0, 0), 2,
                cv2.LINE_AA)
    parts = [head, panel] + ([band] if band is not None else [])
    return np.concatenate(parts, axis=0)


def side_by_side(panels):
    """Panels of one width side by side on white, top-aligned."""
    height = max(p.shape[0] for p in panels)
    width = sum(p.shape[1] for p in panels) + GAP * (len(panels) + 1)
    canvas = np.full((height + 2 * GAP, width, 3), 255, np.uint8)
    x = GAP
    for panel in panels:
        canvas[GAP:GAP + panel.shape[0], x:x + panel.shape[1]] = panel
        x += panel.shape[1] + GAP
    return canvas
