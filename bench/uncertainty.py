"""How well predict's `uncertainty` column orders a reader's queue, on
held-out styles with found points (issue 35's goals): the share of the scans
whose AAC24 category is wrong that fall in the 10% most uncertain, and the
category accuracy of the other 90%; and how many clean scans are flagged
`landmarks_uncertain`.

    python3 bench/uncertainty.py --model MODEL.aac --work DIR [--n 200]
        [--styles hologic,lunar,biobank,random] [--seed 41]

Each style's cohort is made with `aac synth --style S --seed SEED+k` (or
reused from DIR/test_S), scored with `aac predict` (points found), and
compared with its ground-truth scores.csv. Prints a markdown table.
"""

import argparse
import csv
import os

from aac_bench import aac

CUTS = (2, 6)  # the established groups: low 0-1, moderate 2-5, high >= 6


def category(score):
    return sum(score >= c for c in CUTS)


def read(path):
    with open(path, newline="") as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def figures(pred, truth, share=0.10):
    rows = [r for r in pred.values() if r["status"] != "error" and r["id"] in truth]
    wrong = {r["id"] for r in rows if category(int(r["aac24"])) != category(int(truth[r["id"]]["aac24"]))}
    ranked = sorted(rows, key=lambda r: -float(r["uncertainty"] or 0))
    k = max(1, round(share * len(ranked)))
    top, rest = ranked[:k], ranked[k:]
    caught = sum(r["id"] in wrong for r in top)
    rest_acc = sum(r["id"] not in wrong for r in rest) / max(1, len(rest))
    flagged = [r for r in rows if r["status"] == "flagged"]
    unflagged = [r for r in rows if r["status"] == "ok"]
    lm = sum("landmarks_uncertain" in r["flags"] for r in rows)
    return {
        "scans": len(rows),
        "errors": len(pred) - len(rows),
        "wrong": len(wrong),
        "caught": caught,
        "caught_share": caught / max(1, len(wrong)),
        "rest_acc": rest_acc,
        "acc": 1 - len(wrong) / max(1, len(rows)),
        "flagged": len(flagged) / max(1, len(rows)),
        "lm_flagged": lm / max(1, len(rows)),
        "unflagged_acc": sum(r["id"] not in wrong for r in unflagged) / max(1, len(unflagged)),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=41)
    ap.add_argument("--styles", default="hologic,lunar,biobank,random")
    a = ap.parse_args()
    print("| style | scans | category right | wrong | of them in the 10% most uncertain | category accuracy of the other 90% | flagged | `landmarks_uncertain` | accuracy of unflagged |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k, style in enumerate(a.styles.split(",")):
        test = os.path.join(a.work, f"test_{style}")
        if not os.path.isdir(test):
            aac("synth", "--n", a.n, "--seed", a.seed + k, "--style", style, "--out", test)
        out = os.path.join(a.work, f"unc_{style}")
        aac("predict", "--model", a.model, "--images", os.path.join(test, "images"), "--out", out)
        f = figures(read(os.path.join(out, "scores.csv")), read(os.path.join(test, "scores.csv")))
        print(
            f"| {style} | {f['scans']} | {f['acc']:.3f} | {f['wrong']} | {f['caught']} ({100 * f['caught_share']:.0f}%) | "
            f"{f['rest_acc']:.3f} | {100 * f['flagged']:.1f}% | {100 * f['lm_flagged']:.1f}% | {f['unflagged_acc']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
