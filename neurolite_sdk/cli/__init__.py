"""The ``neurolite`` command: the SDK's face. It imports everything; nothing imports it.

Each command lives in its own module and is registered here. Errors that a user can fix (bad data,
bad config, missing files) surface as one clear line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import click

from neurolite_sdk import __version__
from neurolite_sdk.cli.bench_commands import bench_command, report_command
from neurolite_sdk.cli.export_commands import export_command
from neurolite_sdk.cli.generate_commands import export_generator_command, generate_command
from neurolite_sdk.cli.model_commands import eval_command, info_command, predict_command
from neurolite_sdk.cli.pretrain import pretrain_command
from neurolite_sdk.cli.quantize_commands import quantize_report_command
from neurolite_sdk.cli.reasoning import infer_command, reason_command
from neurolite_sdk.cli.run_commands import run_command
from neurolite_sdk.cli.train import train_command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="neurolite")
@click.option("-v", "--verbose", count=True,
              help="Show third-party warnings and logs (torch, converters); -vv: debug logs.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but --json output and errors.")
def main(verbose: int = 0, quiet: bool = False) -> None:
    """NeuroLite: tiny embedding-free language models for on-device use."""
    from neurolite_sdk.cli.common import console
    from neurolite_sdk.cli.verbosity import configure_output

    configure_output(console, verbose, quiet)


main.add_command(train_command, "train")
main.add_command(pretrain_command, "pretrain")
main.add_command(eval_command, "eval")
main.add_command(predict_command, "predict")
main.add_command(info_command, "info")
main.add_command(export_command, "export")
main.add_command(run_command, "run")
main.add_command(quantize_report_command, "quantize-report")
main.add_command(reason_command, "reason")
main.add_command(infer_command, "infer")
main.add_command(bench_command, "bench")
main.add_command(report_command, "report")
main.add_command(generate_command, "generate")
main.add_command(export_generator_command, "export-generator")
