"""`had export` and `had profile`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from had_ros.errors import HadError


def _model_help() -> str:
    return "checkpoint folder/.safetensors, or a registry name (untrained, seeded weights)"


# --- export ----------------------------------------------------------------------------------------

def add_export_parser(parser: argparse.ArgumentParser) -> None:
    from had_ros.tracking.export import DEFAULT_OPSET, DEFAULT_TOLERANCE

    parser.description = (
        "Export a model (normally the student) to ONNX, then run ONNX Runtime and torch on the same "
        "random inputs and fail (exit 1) if any output differs by more than the tolerance. Writes "
        "OUT and OUT with .json suffix (config, inputs, outputs, verification)."
    )
    parser.add_argument("--model", required=True, help=_model_help())
    parser.add_argument("--out", required=True, type=Path, help="output .onnx path")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default %(default)s)")
    parser.add_argument("--dynamic-batch", action="store_true", help="batch axis dynamic (default: fixed 1)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="max abs error allowed per output, fp32 (default %(default)g)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random check inputs")
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from had_ros.tracking.export import export_onnx, verify_onnx, write_sidecar
    from had_ros.tracking.factory import resolve_model

    if args.out.suffix != ".onnx":
        raise HadError(f"--out {args.out}: expected a path ending in .onnx")
    from had_ros.models import list_models

    model = resolve_model(args.model).eval()
    c = model.config
    if str(args.model) in list_models():
        trained = False  # a registry name is a random init
    else:
        from had_ros.models.checkpoint import checkpoint_trained, is_checkpoint

        trained = checkpoint_trained(args.model) if is_checkpoint(args.model) else None
    print(f"model: {c.name} (modalities {','.join(c.modalities)}; depth {c.depth}, width {c.embed_dim})")
    data = export_onnx(model, args.out, opset=args.opset, dynamic_batch=args.dynamic_batch, trained=trained)
    print(f"wrote {args.out} ({len(data) / 1e6:.2f} MB, opset {args.opset}, "
          f"batch {'dynamic' if args.dynamic_batch else 1}, inputs {', '.join(c.input_names)})")
    batches = (1, 2) if args.dynamic_batch else (1,)
    worst, errors = 0.0, {}
    for b in batches:
        err = verify_onnx(model, data, batch=b, seed=args.seed)
        errors[f"batch{b}"] = err
        for name, value in err.items():
            print(f"max abs error {name} (batch {b}): {value:.3e}")
            worst = max(worst, value)
    passed = worst <= args.tolerance
    side = write_sidecar(args.out, c, args.opset, args.dynamic_batch,
                         {"tolerance": args.tolerance, "max_abs_error": errors, "passed": passed,
                          "seed": args.seed})
    print(f"wrote {side}")
    if not passed:
        print(f"FAILED: ONNX Runtime differs from torch by {worst:.3e} > tolerance {args.tolerance:g}",
              file=sys.stderr)
        return 1
    print(f"OK: ONNX Runtime matches torch within {args.tolerance:g} (worst {worst:.3e})")
    return 0


# --- profile ---------------------------------------------------------------------------------------

def add_profile_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = "Parameters, FLOPs and batch-1 latency (median, p99) of a model per backend."
    parser.add_argument("--model", required=True, help=_model_help() + ", or an exported .onnx")
    parser.add_argument("--backends", default="torch,onnx", help="comma list of torch, onnx (default %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per backend (default %(default)s)")
    parser.add_argument("--iters", type=int, default=50, help="timed iterations (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed warm-up iterations (default %(default)s)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda (default %(default)s)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16"), help="torch precision")
    parser.add_argument("--cuda-graphs", action="store_true", help="torch on CUDA: replay a captured graph")
    parser.add_argument("--providers", default=None,
                        help="ONNX Runtime providers in order, comma list (default CUDA,CPU if present)")
    parser.add_argument("--provider-option", action="append", default=[], metavar="PROVIDER:KEY=VALUE",
                        help="an ONNX Runtime provider option, repeatable, e.g. "
                             "TensorrtExecutionProvider:trt_fp16_enable=True")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=run_profile)


def parse_provider_options(items: list[str]) -> dict[str, dict[str, str]]:
    """['Prov:key=value', ...] -> {'Prov': {'key': 'value'}} (values stay strings, as ORT takes them)."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        provider, sep, rest = item.partition(":")
        key, eq, value = rest.partition("=")
        if not (sep and eq and provider and key):
            raise HadError(f"--provider-option {item!r}: expected PROVIDER:KEY=VALUE")
        out.setdefault(provider, {})[key] = value
    return out


def profile_model(spec: str, backends: list[str], threads: int, iters: int, warmup: int,
                  device: str = "cpu", precision: str = "fp32", cuda_graphs: bool = False,
                  providers: list[str] | None = None,
                  provider_options: dict[str, dict[str, str]] | None = None) -> dict:
    """The numbers `had profile` prints, as a dict."""
    import torch
    from tqdm import tqdm

    from had_ros.tracking.backends import OnnxBackend, TorchBackend
    from had_ros.tracking.export import example_inputs, export_onnx
    from had_ros.tracking.onnx_files import read_onnx_config
    from had_ros.tracking.factory import resolve_model
    from had_ros.tracking.profile import analytic_flops, count_flops, count_parameters, profile_backend

    unknown = sorted(set(backends) - {"torch", "onnx"})
    if unknown:
        raise HadError(f"--backends: unknown {unknown}; expected torch and/or onnx")
    torch.set_num_threads(threads)
    result: dict = {"threads": threads, "iters": iters, "warmup": warmup, "latency": {}}
    if Path(spec).suffix == ".onnx":
        import onnx
        from onnx import numpy_helper

        if "torch" in backends:
            raise HadError(f"{spec} is an ONNX file: profile it with --backends onnx")
        config = read_onnx_config(spec)
        proto = onnx.load(spec)
        result["parameters"] = int(sum(numpy_helper.to_array(t).size for t in proto.graph.initializer))
        result["flops"] = analytic_flops(config)
        onnx_source, model = Path(spec), None
    else:
        model = resolve_model(spec).eval()
        config = model.config
        result["parameters"] = count_parameters(model)
        inputs = {k: torch.from_numpy(v) for k, v in example_inputs(config).items()}
        result["flops"] = count_flops(model, inputs)
        onnx_source = None
    result["model"] = config.to_dict()
    result["flops_analytic"] = analytic_flops(config)
    for name in backends:
        if name == "torch":
            be = TorchBackend(model, device=device, precision=precision, cuda_graphs=cuda_graphs)
        else:
            source = onnx_source if onnx_source is not None else export_onnx(model)
            be = OnnxBackend(source, config, providers=providers, provider_options=provider_options,
                             intra_op_threads=threads)
        with tqdm(total=iters, desc=f"{config.name} {be.name}", leave=False, file=sys.stderr) as bar:
            lat = profile_backend(be, iters, warmup, progress=bar)
        result["latency"][be.name] = lat.as_dict()
    return result


def run_profile(args: argparse.Namespace) -> int:
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    providers = [p.strip() for p in args.providers.split(",")] if args.providers else None
    options = parse_provider_options(args.provider_option)
    if options and providers is None:
        providers = list(options) + ["CPUExecutionProvider"] * ("CPUExecutionProvider" not in options)
    r = profile_model(args.model, backends, args.threads, args.iters, args.warmup, args.device,
                      args.precision, args.cuda_graphs, providers, options)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    c = r["model"]
    print(f"model: {c['name']} (modalities {','.join(c['modalities'])}; depth {c['depth']}, "
          f"width {c['embed_dim']}, heads {c['num_heads']}; template {c['template_size']}, "
          f"search {c['search_size']}, patch {c['patch_size']}, event bins {c['event_bins']})")
    print(f"parameters: {r['parameters']:,} ({r['parameters'] / 1e6:.2f} M)")
    print(f"FLOPs: {r['flops'] / 1e9:.3f} G per frame at batch 1 (multiply-add = 2; "
          f"analytic {r['flops_analytic'] / 1e9:.3f} G)")
    for name, lat in r["latency"].items():
        print(f"latency {name}: median {lat['median_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms "
              f"({lat['iters']} iters, batch 1, {r['threads']} threads)")
    return 0
