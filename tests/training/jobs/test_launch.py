"""How the runner starts a job on one GPU, several, and several hosts (training/jobs/runner.py)."""

import json
import sys

from training.jobs.runner import launch_command, run_in_child
from training.jobs.contract import JobSpec, Resources


def spec_for(tmp_path, **resources) -> JobSpec:
    return JobSpec(run_id="run-7", kind="train", base_model=str(tmp_path / "model"), output_dir=str(tmp_path / "out"),
                   snapshot_dir=str(tmp_path / "snapshot"), resources=Resources(**resources))  # fmt: skip


def test_one_gpu_runs_the_entry_point_alone(tmp_path):
    command, output = launch_command(spec_for(tmp_path), tmp_path / "spec.json", "python3")
    assert command == ["python3", "-m", "training.jobs", str(tmp_path / "spec.json")] and output is None


def test_several_gpus_run_the_same_entry_point_under_torchrun(tmp_path):
    command, output = launch_command(spec_for(tmp_path, gpus_per_node=4), tmp_path / "spec.json", "python3")
    assert command == ["python3", "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                       "--nproc-per-node", "4", "-m", "training.jobs", str(tmp_path / "spec.json")]  # fmt: skip
    assert output is None


def test_several_nodes_submit_a_batch_job_running_srun_torchrun_with_c10d_rendezvous(tmp_path):
    spec = spec_for(tmp_path, gpus_per_node=8, nodes=4)
    command, output = launch_command(spec, tmp_path / "spec.json", "/opt/venv/bin/python")

    folder = tmp_path / "out" / "slurm"
    assert command == ["sbatch", "--wait", "--parsable", str(folder / "job.sbatch")] and output == folder / "job.out"
    assert JobSpec.load(folder / "spec.json") == spec  # where every node can read it
    script = (folder / "job.sbatch").read_text()
    for line in ["#SBATCH --nodes=4", "#SBATCH --ntasks-per-node=1", "#SBATCH --gpus-per-node=8",
                 "#SBATCH --job-name=occiportal-run-7", f"#SBATCH --output={folder / 'job.out'}",
                 'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
                 "srun /opt/venv/bin/python -m torch.distributed.run \\",
                 "  --nnodes 4 --nproc-per-node 8 \\",
                 '  --rdzv-backend c10d --rdzv-endpoint "$head:29500" --rdzv-id occiportal-run-7 \\',
                 f"  -m training.jobs {folder / 'spec.json'}"]:  # fmt: skip
        assert line in script.splitlines(), line


def test_the_batch_job_is_submitted_with_sbatch_and_its_output_followed(tmp_path, monkeypatch):
    # A stand-in sbatch: records its arguments and writes what the job would print to the script's output file.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    done = json.dumps({"event": "done", "steps": 3})
    (bin_dir / "sbatch").write_text(
        f"#!{sys.executable}\n"
        "import sys, pathlib, re\n"
        "pathlib.Path(sys.argv[0]).with_name('args').write_text(' '.join(sys.argv[1:]))\n"
        "output = re.search(r'--output=(\\S+)', pathlib.Path(sys.argv[-1]).read_text()).group(1)\n"
        f"pathlib.Path(output).write_text('rank 0 says hello\\n' + {done!r} + '\\n')\n"
        "print(4242)\n"
    )  # fmt: skip
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    spec = spec_for(tmp_path, gpus_per_node=2, nodes=2)
    events = []

    result = run_in_child(spec, events.append, poll_seconds=0.05)

    assert result.ok and events == [{"event": "done", "steps": 3}]
    assert "rank 0 says hello" in result.log_tail
    assert (bin_dir / "args").read_text() == f"--wait --parsable {tmp_path / 'out' / 'slurm' / 'job.sbatch'}"
