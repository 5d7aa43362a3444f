"""Scores raw video files with a trained run: P(fake) per video, per clip, and attention figures.

  python -m ddf.predict --workdir runs/default video1.mp4 video2.mp4 [--json out.json] \
      [--viz out_dir] [--threshold 0.5] [--clips_per_video N]

Each video goes through the same steps as the dataset build and evaluation: the frames the
build would store (`data.sampling`: windows of consecutive frames or evenly spaced frames), MTCNN
+ one face track + aligned crops (`ddf.faces.FacePipeline` with the config's crop size, margin and
min_face_size; JPEG round trip like the stored frames), the evaluation's fixed clips with faces
(`ddf.data.pipeline.ClipRule`), the val-selected checkpoint. Per video: the probability
of being fake (mean of the clip scores), the clip scores, the frames with a face, the decision
at `--threshold`. `--viz DIR` writes `DIR/<video name>.png`: frames with their scores, temporal
attention over the frames, spatial attention heatmaps over the crops.

A file that cannot be scored (unreadable, too short, no face) gets an `error` entry naming the
file and what to do; the others are still scored. Exit status 1 when any file failed, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
    prog="python -m ddf.predict",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--workdir", required=True, help="directory written by ddf.train")
  parser.add_argument("videos", nargs="+", help="video files")
  parser.add_argument("--json", default=None, help="write the results to this JSON file")
  parser.add_argument("--viz", default=None, help="write one attention PNG per video here")
  parser.add_argument("--threshold", type=float, default=0.5)
  parser.add_argument(
    "--clips_per_video",
    type=int,
    default=None,
    help="fixed clips per video (default: the config's clips_per_video_eval)",
  )
  parser.add_argument("--config_override", nargs="*", default=[], metavar="KEY=VALUE")
  args = parser.parse_args(argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  from ddf import predict_lib

  try:
    predictor = predict_lib.Predictor(args.workdir, args.config_override, args.clips_per_video)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  results = [predictor.predict(v, args.threshold, args.viz) for v in args.videos]
  print(predict_lib.format_results(results, args.threshold))
  if args.json:
    out = {
      "workdir": str(predictor.workdir),
      "checkpoint_step": predictor.step,
      "threshold": args.threshold,
      "frames_per_video": predictor.frames_per_video,
      "clip_len": predictor.clip_len,
      "videos": results,
      "num_failed": sum("error" in r for r in results),
    }
    Path(args.json).expanduser().parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).expanduser().write_text(json.dumps(out, indent=1))
    print(f"Wrote {args.json}")
  return 1 if any("error" in r for r in results) else 0


def cli() -> None:
  sys.exit(main())


if __name__ == "__main__":
  cli()
