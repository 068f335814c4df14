"""Tuning and checking the learned engine's console refinement (controller/refine.py) on *validation* songs only.

Songs: a dataset made by ``reaper-automix dataset`` with seeds the shipped checkpoint never saw (default
``--seed 100029``: the shipped checkpoint trained on 100000-100022 and validated on 100023-100028), never the
held-out evaluation songs (seeds 9000.., TimGM6mb). Two kinds of case, both method 1 (the model hears one half,
the reference is the other half through a known console):

* ``rendered``: the dataset's own references (the exact console rendered on audio; the training consoles'
  wide distribution: pan +/-0.9, EQ +/-8 dB);
* ``plausible``: consoles drawn from a plausible engineer's distribution like the evaluation's (pans +/-0.1 for
  drums, bass and vocals, +/-0.5 for the rest; EQ +/-4 dB; gains +/-3 dB), applied in feature space by the
  band-energy console to the other half's statistics.

Columns (as the evaluation's, on settings kept within +/-0.5 pan and +/-6 dB EQ): gain error (mean-removed,
mean |dB|), pan error (mean |pan|), EQ curve error (RMS dB over 30 Hz-16 kHz), for neutral, the network alone
and the network + refinement (each ``--grid`` option set). Run:
``PYTHONPATH=. .venv/bin/python benchmarks/refine_validation.py DATASET [--grid 'steps=200,pan_scale=0.3;...']``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch

from reaper_automix.controller.checkpoint import SHIPPED, load_checkpoint
from reaper_automix.controller.losses import CURVE_FREQS_HZ, Batch, band_console, eq_curves_db, feature_loss, forward
from reaper_automix.controller.refine import RefineOptions, refine_settings
from reaper_automix.controller.train import collate, load_songs, validation_examples
from reaper_automix.matching.features import TERM_SCALES, torch_features_from_sums

CENTRED = {"Drums", "Bass", "Vocals"}
PAN_LIMIT, EQ_LIMIT = 0.5, 6.0


def plausible_examples(songs, consoles: int) -> list:
    """Every song and half, ``consoles`` times (one plausible console each)."""
    return [e for e in validation_examples(songs, np.arange(len(songs))) if e.ref_console == 0] * consoles


def plausible_batch(rng: np.random.Generator, songs, names: list[list[str]], consoles: int = 1,
                    same_half: bool = False) -> Batch:
    """Every song and half with ``consoles`` consoles from the plausible distribution (module docstring);
    ``same_half``: the reference made of the half the engine hears (an oracle no evaluation allows: what the
    estimators reach without the excerpt mismatch)."""
    examples = plausible_examples(songs, consoles)
    batch = collate(songs, examples)
    b, s = batch.stem_mask.shape
    truth = torch.zeros(b, s, 10, dtype=torch.float32)
    # the other half's stem statistics (or the same half's, for the oracle)
    other = batch if same_half else collate(songs, [replace(e, half=e.ref_half) for e in examples])
    for i, e in enumerate(examples):
        for k, name in enumerate(names[e.song]):
            width = 0.1 if name in CENTRED else 0.5
            truth[i, k, 0] = float(rng.uniform(-3, 3))
            truth[i, k, 1:7] = torch.from_numpy(rng.uniform(-4, 4, 6).astype(np.float32))
            truth[i, k, 7] = float(songs[e.song].stem_level_db[k] - rng.uniform(0, 9))
            truth[i, k, 8] = float(np.exp(rng.uniform(np.log(1.5), np.log(4.0))))
            truth[i, k, 9] = float(rng.uniform(-width, width))
    truth[~batch.stem_mask] = torch.tensor([0, 0, 0, 0, 0, 0, 0, 0, 1, 0], dtype=torch.float32)
    with torch.no_grad():
        energy, frame_power, peak = band_console(truth, other.stem_energy, other.stem_frame_power,
                                                 other.stem_peak, other.stem_mask)
    truth[~batch.stem_mask] = float("nan")
    return replace(batch, ref_energy=energy.float(), ref_frame_power=frame_power.float(), ref_peak=peak.float(),
                   truth=truth)


def other_song(batch: Batch, songs_of_cases: list[int]) -> Batch:
    """Method 2: each case's reference replaced by that of a case of another song (the next one's)."""
    order = [next(j for j in range(i + 1, i + 1 + len(songs_of_cases)) if songs_of_cases[j % len(songs_of_cases)]
                  != songs_of_cases[i]) % len(songs_of_cases) for i in range(len(songs_of_cases))]
    return replace(batch, ref_energy=batch.ref_energy[order], ref_frame_power=batch.ref_frame_power[order],
                   ref_peak=batch.ref_peak[order], truth=None)


def errors(pred: torch.Tensor, batch: Batch) -> dict[str, float]:
    mask = batch.stem_mask
    p = pred.to(torch.float64).clone()
    p[..., 9] = p[..., 9].clamp(-PAN_LIMIT, PAN_LIMIT)
    p[..., 1:7] = p[..., 1:7].clamp(-EQ_LIMIT, EQ_LIMIT)
    feature = float(feature_loss(p.float(), batch)[0])
    distance = evaluation_distance(p, batch)
    if batch.truth is None:
        return {"gain": float("nan"), "pan": float("nan"), "eq": float("nan"), "feature": feature, **distance}
    t = torch.nan_to_num(batch.truth.to(torch.float64))
    w = mask.to(torch.float64)
    n = w.sum(1, keepdim=True)
    dg = p[..., 0] - t[..., 0]
    dg = dg - (dg * w).sum(1, keepdim=True) / n
    curve = ((eq_curves_db(p[..., 1:7], CURVE_FREQS_HZ) - eq_curves_db(t[..., 1:7], CURVE_FREQS_HZ)) ** 2)
    curve = curve.mean(-1).sqrt()
    return {"gain": float(dg.abs()[mask].mean()), "pan": float((p[..., 9] - t[..., 9]).abs()[mask].mean()),
            "eq": float(curve[mask].mean()), "feature": feature, **distance}


def _stat_features(energy: torch.Tensor, frame_power: torch.Tensor, peak: torch.Tensor) -> dict[str, torch.Tensor]:
    """The evaluation's features (:func:`~reaper_automix.matching.features.features_from_stats`) from window
    statistics: band energies ``(B, 3, K)`` summed over windows, frame powers ``(B, W, F)``, peaks ``(B, W)``. The
    crest is the largest sampled peak over the sampled frames' mean square (a model of the evaluation's sample
    peak over the whole excerpt)."""
    ll, rr, lr = energy[:, 0], energy[:, 1], energy[:, 2]
    mid, side = (ll + rr + 2 * lr) / 4, (ll + rr - 2 * lr) / 4
    out = torch_features_from_sums(ll.sum(-1), rr.sum(-1), lr.sum(-1), 1.0, peak.amax(-1), mid.clamp_min(0.0),
                                   side.clamp_min(0.0), (mid + side).sum(-1, keepdim=True))
    out["crest_db"] = 20 * torch.log10(peak.amax(-1).clamp_min(1e-10)) - 10 * torch.log10(
        frame_power.mean(dim=(-1, -2)).clamp_min(1e-20))
    return out


def evaluation_distance(pred: torch.Tensor, batch: Batch) -> dict[str, float]:
    """The evaluation's feature distance (:func:`~reaper_automix.matching.features.distances`: crest, width and
    imbalance as absolute differences, mid and side Bark spectra as the RMS over bands of the dB difference, each
    over its :data:`~reaper_automix.matching.features.TERM_SCALES` step, summed in ``total``) of the mix the
    settings make through the band-energy console against the reference, both from window statistics; means
    over the cases, per term in the term's own unit."""
    with torch.no_grad():
        energy, frame_power, peak = band_console(pred, batch.stem_energy, batch.stem_frame_power, batch.stem_peak,
                                                 batch.stem_mask)
        mine = _stat_features(energy.sum(1), frame_power, peak)
        ref = _stat_features(batch.ref_energy.to(torch.float64).sum(1), batch.ref_frame_power.to(torch.float64),
                             batch.ref_peak.to(torch.float64))
    terms = {k: (mine[k] - ref[k]).abs() for k in ("crest_db", "width", "imbalance")}
    terms |= {k: ((mine[k] - ref[k]) ** 2).mean(-1).sqrt() for k in ("bark_mid_db", "bark_side_db")}
    total = sum(terms[k] / scale for k, scale in TERM_SCALES.items())
    return {"eval_total": float(total.mean()), **{f"eval_{k}": float(v.mean()) for k, v in terms.items()}}


def excerpt_mismatch(songs) -> dict[str, float]:
    """How much a stem's whole-half band statistics change from one half of its song to the other: the band
    shape (dB re the stem's total; mean |difference| and its standard deviation) and the per-band left/right
    balance (standard deviation of the difference), over the bands within 40 dB of the stem's loudest band in
    both halves, every stem of every song alike."""
    shape_diff, balance_diff = [], []
    for song in songs:
        e = song.stem_energy.astype(np.float64).sum(axis=2)  # (halves, S, 3, K)
        power = e[:, :, 0] + e[:, :, 1]  # (halves, S, K)
        shape = 10 * np.log10(power / power.sum(-1, keepdims=True).clip(1e-30) + 1e-30)
        balance = (e[:, :, 1] - e[:, :, 0]) / power.clip(1e-30)
        heard = (shape >= shape.max(-1, keepdims=True) - 40).all(axis=0) & (power.sum(-1) > 0).all(0)[:, None]
        shape_diff.append((shape[0] - shape[1])[heard])
        balance_diff.append((balance[0] - balance[1])[heard])
    shape_diff, balance_diff = np.concatenate(shape_diff), np.concatenate(balance_diff)
    return {"band_shape_mean_abs_db": float(np.abs(shape_diff).mean()), "band_shape_std_db": float(shape_diff.std()),
            "band_balance_std": float(balance_diff.std()), "stem_bands": int(shape_diff.size)}


def audio_validation(grid: list[RefineOptions], count: int, first_seed: int, seconds: float, work: Path,
                     with_search: bool, swap: bool = False) -> list[dict]:
    """The evaluation's own construction and columns (:mod:`reaper_automix.evaluate`: demo songs, stage 1, a
    truth console on the other half, the demo's different-song reference; rendered mixes and the evaluation's
    feature distance) on ``count`` *validation* seeds from ``first_seed`` (not the table's 9000-9019), for the
    network, each refinement setting of ``grid`` and (``with_search``) the search, whose rows are cached under
    ``work``; ``swap``: also the learned settings with the search's compressors, or its pans, swapped in.
    Means per row (the feature terms over the songs where they are finite)."""
    from reaper_automix import evaluate as ev
    from reaper_automix.controller.predict import learned_settings
    from reaper_automix.matching import match_reference

    def learned_row(name: str, options: RefineOptions | None) -> ev.Row:
        return ev.engine_row(name, lambda stems, rate, refs: learned_settings(stems, rate, refs,
                                                                              refine=options).settings)

    def combined_row(name: str, part: str, into_search: bool = False) -> ev.Row:
        """A diagnostic: the learned engine's settings with the search's ``part`` (compressor or pan) swapped in
        (``into_search``: the search's settings with the learned engine's), to measure how much of the distance
        that part accounts for."""
        def engine(stems, rate, refs):
            mine = learned_settings(stems, rate, refs).settings
            found = match_reference(stems, rate, refs).stems
            if into_search:
                mine, found = found, mine
            return [replace(a, **{part: getattr(b, part)}) for a, b in zip(mine, found)]
        return ev.engine_row(name, engine)

    rows = [ev.neutral_row(), learned_row("network", None)] + [
        learned_row(_short(str(o).removeprefix("RefineOptions")), o) for o in grid]
    if swap:
        rows += [combined_row("learned+search compressor", "compressor"), combined_row("learned+search pan", "pan"),
                 combined_row("search+learned compressor", "compressor", True),
                 combined_row("search+learned pan", "pan", True)]
    records = []
    for spec in ev.held_out_songs(count, first_seed=first_seed, length_s=seconds):
        folder = ev.ensure_song(work / "songs", spec)
        case = ev.build_case(folder, work / "cases" / spec.name, spec.seed, reuse=True)
        record = ev.evaluate_case(case, rows, log=lambda line: None)
        cached = work / "rows" / f"{spec.name}-search.json"
        if with_search:
            if not cached.exists():
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_text(json.dumps(ev.evaluate_case(case, [ev.search_row()], log=print)["rows"]))
            record["rows"] |= json.loads(cached.read_text())
        records.append(record)
        print(f"{spec.name}: " + "  ".join(f"{k} {r['feature_distance']:.2f}" for k, r in record["rows"].items()),
              flush=True)
    summary = ev.summarise(records)["mean"]
    keys = ("loudness_error_lu", "pan_error", "eq_curve_error_db", "feature_distance", "mrstft", "violations")
    table = []
    for row, values in summary.items():
        terms = {t: float(np.nanmean([r["rows"][row]["feature_terms"][t] for r in records]))
                 for t in ("crest_db", "width", "imbalance", "bark_mid_db", "bark_side_db")}
        print(f"  {row:<50} " + "  ".join(f"{k.split('_')[0]} {values[k]:.3f}" for k in keys)
              + "  (" + " ".join(f"{t} {v:.3f}" for t, v in terms.items()) + ")")
        table.append({"row": row, **values, "feature_terms": terms})
    return table


def oracle_rows(batch: Batch) -> list[tuple[str, torch.Tensor]]:
    """Bounds: estimators handed the *true* settings of everything but what they estimate (gains pinned by a
    0.01 dB prior), on ``batch``'s known consoles. ``oracle pans``: the balance pans (:func:`_pans_from_balance`,
    through :func:`refine_settings` with the true gains, EQ and compressor) under the shipped centre prior, and
    under a prior 10x wider (nearly the likelihood alone); ``oracle EQ``: the EQ descended from flat with the true
    gains, pans and compressor, at EQ priors of 1, 2 and 8 dB."""
    truth = torch.nan_to_num(batch.truth.to(torch.float64))
    truth[~batch.stem_mask, 8] = 1.0
    pinned = {"gain_scale_db": 0.01, "steps": 100}
    rows = []
    for name, widen in (("oracle pans (true gains, EQ, comp; shipped prior)", 1.0),
                        ("oracle pans (same; prior 10x wider)", 10.0)):
        o = RefineOptions(network_eq_share=1.0, eq_scale_db=0.01, network_pan_share=0.0, pan_prior_widen=widen,
                          **pinned)
        rows.append((name, refine_settings(truth, batch, o)))
    for eq_scale in (1.0, 2.0, 8.0):
        o = RefineOptions(balance_pans=False, centre_scale=0.0, pan_scale=1e-3, eq_scale_db=eq_scale, **pinned)
        rows.append((f"oracle EQ (true gains, pans, comp; EQ prior {eq_scale:g} dB)", refine_settings(truth, batch, o)))
    return rows


def _short(name: str) -> str:
    """An options row named by what differs from the defaults."""
    if not name.startswith("("):
        return name
    default = str(RefineOptions()).removeprefix("RefineOptions")[1:-1].split(", ")
    return ",".join(kv for kv in name[1:-1].split(", ") if kv not in default) or "defaults"


def parse_grid(text: str) -> list[RefineOptions]:
    kinds = {f.name: f.type for f in fields(RefineOptions)}
    out = []
    for item in filter(None, text.split(";")):
        values = dict(kv.split("=") for kv in item.split(","))
        out.append(RefineOptions(**{k: (int(v) if kinds[k] in (int, "int") else float(v)) for k, v in values.items()}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path, help="the validation dataset (with --audio-songs: a work folder)")
    parser.add_argument("--grid", default="", help="';'-separated RefineOptions, e.g. 'steps=200,pan_scale=0.3'")
    parser.add_argument("--out", type=Path, default=None, help="write the table as JSON here")
    parser.add_argument("--consoles", type=int, default=1, help="plausible consoles per song half")
    parser.add_argument("--same-half", action="store_true",
                        help="oracle: plausible references made of the half the engine hears")
    parser.add_argument("--cases", default="rendered,plausible,other-song", help="which kinds of case to run")
    parser.add_argument("--oracle", action="store_true",
                        help="also the bounds of oracle_rows: estimators given the true other settings")
    parser.add_argument("--mismatch", action="store_true",
                        help="only print how much the stems' band statistics change between the halves")
    parser.add_argument("--audio-songs", type=int, default=0,
                        help="instead: the evaluation's construction on this many validation seeds (rendered mixes)")
    parser.add_argument("--audio-first-seed", type=int, default=9100, help="the first of those seeds")
    parser.add_argument("--audio-seconds", type=float, default=12.0)
    parser.add_argument("--search", action="store_true", help="with --audio-songs: the search row too (cached)")
    parser.add_argument("--swap", action="store_true",
                        help="with --audio-songs: rows with the search's compressors or pans in the learned settings")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.audio_songs:
        if args.audio_first_seed < 9020 and args.audio_first_seed + args.audio_songs > 9000:
            parser.error("the audio validation seeds must not overlap the evaluation table's (9000-9019)")
        table = audio_validation(parse_grid(args.grid) or [RefineOptions()], args.audio_songs,
                                 args.audio_first_seed, args.audio_seconds, args.dataset, args.search, args.swap)
        if args.out:
            args.out.write_text(json.dumps(table, indent=1))
        return
    songs = load_songs(args.dataset)
    if args.mismatch:
        print(json.dumps({"dataset": str(args.dataset), "songs": len(songs), **excerpt_mismatch(songs)}))
        return
    names = [json.loads(p.read_text())["stems"] for p in sorted(args.dataset.glob("song-*.json"))]
    model = load_checkpoint(SHIPPED).model
    plausible = plausible_batch(np.random.default_rng(0), songs, names, args.consoles, args.same_half)
    examples = plausible_examples(songs, args.consoles)
    cases = {"rendered": collate(songs, validation_examples(songs, np.arange(len(songs)))),
             "plausible": plausible, "other-song": other_song(plausible, [e.song for e in examples])}
    cases = {k: v for k, v in cases.items() if k in args.cases.split(",")}
    grid = parse_grid(args.grid) or [RefineOptions()]
    table = []
    for kind, batch in cases.items():
        with torch.no_grad():
            pred = forward(model, batch).to(torch.float64)
        neutral = torch.zeros_like(pred)
        neutral[..., 8] = 1.0
        rows = [("neutral", neutral, 0.0), ("network", pred, 0.0)]
        if args.oracle and batch.truth is not None:
            rows += [(name, p, 0.0) for name, p in oracle_rows(batch)]
        for options in grid:
            t0 = time.perf_counter()
            refined = refine_settings(pred, batch, options)
            rows.append((str(options).removeprefix("RefineOptions"), refined, time.perf_counter() - t0))
        print(f"{kind}: {batch.stem_mask.shape[0]} cases, {int(batch.stem_mask.sum())} stems")
        for name, p, seconds in rows:
            e = errors(p, batch)
            table.append({"cases": kind, "row": name, **e, "seconds": seconds})
            print(f"  {_short(name):<60} gain {e['gain']:.3f}  pan {e['pan']:.3f}  eq {e['eq']:.3f}  "
                  f"feature {e['feature']:.2f}  eval {e['eval_total']:.2f} (crest {e['eval_crest_db']:.2f} "
                  f"width {e['eval_width']:.3f} imb {e['eval_imbalance']:.3f} mid {e['eval_bark_mid_db']:.2f} "
                  f"side {e['eval_bark_side_db']:.2f})  ({seconds:.1f} s)")
    if args.out:
        args.out.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
