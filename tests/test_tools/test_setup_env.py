"""tools/setup_env.sh names its mmcv build by everything the ops depend on.

``--print-key`` prints the wheel key, the stamp and the pip arguments the
set-up would use, without installing anything. The CPU key must stay what
earlier versions of the script computed, so the mmcv wheel already cached on
a CPU machine is reused instead of compiled again.
"""
import os
import os.path as osp
import platform
import subprocess
import sys

import pytest
import torch

VENV = osp.dirname(osp.dirname(sys.executable))
CLEAN = ('FORCE_CUDA', 'TORCH_CUDA_ARCH_LIST', 'CUDA_HOME', 'CUDA_PATH',
         'MMRLKD_MMCV_OPS', 'MMRLKD_TORCH_PIP_ARGS', 'MMRLKD_TORCH_INDEX_URL')
no_gpu = pytest.mark.skipif(
    torch.cuda.is_available(), reason='the machine has a GPU')
cuda_torch = pytest.mark.skipif(
    torch.version.cuda is None, reason='torch is a CPU build')


def print_key(repo_root, check=True, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    full_env.update(MMRLKD_VENV=VENV, **env)
    result = subprocess.run(
        ['bash',
         osp.join(repo_root, 'tools', 'setup_env.sh'), '--print-key'],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120)
    if not check:
        return result
    assert result.returncode == 0, result.stderr
    return dict(line.split('=', 1) for line in result.stdout.splitlines())


@pytest.fixture(scope='module')
def default_key(repo_root, once_per_run):
    """What ``--print-key`` prints with none of our variables set (each
    call imports torch: the tests that need it share one)."""
    return once_per_run('default_key', lambda _: print_key(repo_root))


@no_gpu
def test_cpu_key_is_the_one_earlier_versions_cached(repo_root, default_key):
    # The formula of the script before CUDA details joined the key.
    expected = (f'mmcv2.1.0-torch{torch.__version__}-cpu-'
                f'cp{sys.version_info[0]}{sys.version_info[1]}-'
                f'{platform.machine()}').replace('+', '_')
    info = default_key
    assert info['key'] == expected
    assert info['ops'] == 'cpu'
    # TORCH_CUDA_ARCH_LIST does not matter for CPU ops.
    assert print_key(repo_root, TORCH_CUDA_ARCH_LIST='8.0') == info


@cuda_torch
def test_cuda_key_names_cuda_version_and_architectures(repo_root):
    cpu = print_key(repo_root, MMRLKD_MMCV_OPS='cpu')
    sm80 = print_key(repo_root, FORCE_CUDA='1', TORCH_CUDA_ARCH_LIST='8.0')
    sm90 = print_key(
        repo_root, MMRLKD_MMCV_OPS='cuda', TORCH_CUDA_ARCH_LIST='9.0+PTX')
    assert sm80['ops'] == sm90['ops'] == 'cuda' and cpu['ops'] == 'cpu'
    assert f'-cuda{torch.version.cuda}-arch8.0-' in sm80['key']
    assert f'-cuda{torch.version.cuda}-arch9.0_PTX-' in sm90['key']
    assert len({cpu['key'], sm80['key'], sm90['key']}) == 3
    assert len({cpu['stamp'], sm80['stamp'], sm90['stamp']}) == 3


@no_gpu
@cuda_torch
def test_cuda_build_without_a_gpu_needs_an_architecture_list(repo_root):
    info = print_key(repo_root, FORCE_CUDA='1')
    assert info['toolkit'].startswith('error: no GPU is visible')
    assert 'TORCH_CUDA_ARCH_LIST' in info['toolkit']


@cuda_torch
def test_cuda_build_checks_nvcc_before_compiling(repo_root, tmp_path):
    cuda = dict(MMRLKD_MMCV_OPS='cuda', TORCH_CUDA_ARCH_LIST='9.0')
    missing = print_key(repo_root, CUDA_HOME=str(tmp_path / 'none'), **cuda)
    assert missing['toolkit'].startswith('error: no nvcc found')
    major = torch.version.cuda.split('.')[0]
    for release, ok in ((f'{major}.9', True), (f'{int(major) - 1}.8', False)):
        home = tmp_path / release
        (home / 'bin').mkdir(parents=True)
        nvcc = home / 'bin' / 'nvcc'  # prints what nvcc --version prints
        nvcc.write_text('#!/bin/sh\necho "Cuda compilation tools, release '
                        f'{release}, V{release}.1"\n')
        nvcc.chmod(0o755)
        toolkit = print_key(repo_root, CUDA_HOME=str(home), **cuda)['toolkit']
        if ok:
            assert toolkit == f'ok: {nvcc} (CUDA {release})'
        else:
            assert toolkit.startswith(f'error: {nvcc} is CUDA {release}')
            assert 'major versions must match' in toolkit


def test_torch_index_is_extra_for_every_pip_call(repo_root, default_key):
    info = print_key(
        repo_root,
        MMRLKD_TORCH_INDEX_URL='https://example.org/whl/cu128',
        MMRLKD_TORCH_PIP_ARGS='--index-url https://example.org/simple --pre')
    assert info['torch_pip_args'] == (
        '--index-url https://example.org/simple --pre '
        '--extra-index-url https://example.org/whl/cu128')
    # Calls that also install PyPI packages keep PyPI as the main index.
    assert info['other_pip_args'] == (
        '--extra-index-url https://example.org/simple --pre '
        '--extra-index-url https://example.org/whl/cu128')
    assert info['stamp'] != default_key['stamp']


@pytest.mark.parametrize('env, message', [
    (dict(MMRLKD_MMCV_OPS='gpu'),
     'MMRLKD_MMCV_OPS=gpu: use auto, cpu or cuda'),
    (dict(MMRLKD_MMCV_OPS='cpu', FORCE_CUDA='1'), 'contradict each other'),
])
def test_contradictory_requests_fail_at_once(repo_root, env, message):
    result = print_key(repo_root, check=False, **env)
    assert result.returncode != 0
    assert message in result.stderr


# ------------------------------------------------------- air-gapped nodes
NODE_FREEZE = osp.join(osp.dirname(__file__), 'node_freeze_py312.txt')


def setup_env(repo_root, *args, env=None, timeout=600):
    full_env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    full_env.update(env or {})
    return subprocess.run(
        ['bash', osp.join(repo_root, 'tools', 'setup_env.sh'), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout)


def wheelhouse_tool(repo_root, *args):
    return subprocess.run([
        sys.executable,
        osp.join(repo_root, 'tools', 'misc', 'wheelhouse.py'), *args
    ],
                          capture_output=True,
                          text=True,
                          timeout=120)


def index_answers(folder):
    probe = subprocess.run([
        sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '-d',
        str(folder), 'addict==2.4.0'
    ],
                           capture_output=True,
                           timeout=120)
    return probe.returncode == 0


@pytest.fixture(scope='module')
def package_index(once_per_run):
    """Skip the test when no package index is reachable to fill a
    wheelhouse (asked once for the tests that need one)."""
    if not once_per_run('package_index', index_answers):
        pytest.skip('no package index reachable to fill a wheelhouse')


@pytest.mark.slow
@pytest.mark.usefixtures('package_index')
def test_wheelhouse_for_the_python312_node_resolves(repo_root, tmp_path):
    folder = tmp_path / 'wheels'
    result = setup_env(repo_root, '--wheelhouse', str(folder),
                       '--python-version', '3.12', '--freeze', NODE_FREEZE)
    assert result.returncode == 0, result.stdout + result.stderr
    files = sorted(os.listdir(folder))
    assert 'mmcv-2.1.0.tar.gz' in files
    wheels = [f for f in files if f.endswith('.whl')]
    names = {f.split('-')[0].lower() for f in wheels}
    assert {
        'mmengine', 'mmdet', 'mmpretrain', 'mmrazor', 'addict', 'pycocotools',
        'setuptools'
    } <= names
    # What the node has (its freeze) or brings (torch) is not carried.
    assert not names & {
        'torch', 'torchvision', 'numpy', 'scipy', 'matplotlib',
        'opencv_python', 'pytest'
    }
    for wheel in wheels:  # pure Python, or built for CPython 3.12
        assert '-py3' in wheel or '-py2.py3' in wheel or 'cp312' in wheel
    setuptools_wheel = [w for w in wheels if w.startswith('setuptools-')][0]
    assert int(setuptools_wheel.split('-')[1].split('.')[0]) < 82
    with open(folder / 'SHA256SUMS') as f:
        assert len(f.readlines()) == len(wheels) + 1
    assert 'every requirement is met' in result.stdout

    # The check fails on what would break the install on the node.
    verify = ('verify', str(folder), '--freeze', NODE_FREEZE)
    assert wheelhouse_tool(repo_root, *verify).returncode == 0
    without = tmp_path / 'without_numpy.txt'
    without.write_text(''.join(
        line for line in open(NODE_FREEZE) if not line.startswith('numpy==')))
    result = wheelhouse_tool(repo_root, 'verify', str(folder), '--freeze',
                             str(without))
    assert result.returncode != 0 and 'requires numpy' in result.stderr
    addict = [w for w in wheels if w.startswith('addict-')][0]
    (folder / addict).write_bytes(b'not a wheel')
    result = wheelhouse_tool(repo_root, *verify)
    assert result.returncode != 0 and f'{addict}: checksum' in result.stderr


def node_like_python(tmp_path):
    """A Python with torch installed and the OpenMMLab stack missing, as on
    the node: a bare venv that sees this venv's torch, torchvision and the
    node's other packages through links (nothing downloaded again), pip
    among them (the venv is made without one: ensurepip takes seconds)."""
    from importlib import metadata
    keep = [
        'torch', 'torchvision', 'numpy', 'scipy', 'pillow', 'pyyaml', 'rich',
        'tqdm', 'pytest', 'pytest-xdist', 'scikit-learn', 'matplotlib',
        'packaging', 'opencv-python', 'ninja', 'pip'
    ]
    seen, site = set(), tmp_path / 'node_site'
    site.mkdir()
    while keep:
        try:
            dist = metadata.distribution(keep.pop())
        except metadata.PackageNotFoundError:
            continue
        name = dist.metadata['Name'].lower().replace('_', '-')
        if name in seen:
            continue
        seen.add(name)
        for spec in dist.requires or []:
            if 'extra ==' not in spec:
                keep.append(
                    spec.split(';')[0].split('[')[0].split('<')[0].split('>')
                    [0].split('=')[0].split('!')[0].split('~')[0].strip())
        for path in dist.files or []:
            top = path.parts[0]
            if top != '..' and not (site / top).exists():
                (site / top).symlink_to(dist.locate_file(top))
    base = tmp_path / 'node_python'
    subprocess.run(
        [sys._base_executable, '-m', 'venv', '--without-pip',
         str(base)],
        check=True,
        timeout=120)
    base_site = subprocess.run([
        str(base / 'bin' / 'python'), '-c',
        'import sysconfig; print(sysconfig.get_paths()["purelib"])'
    ],
                               capture_output=True,
                               text=True,
                               check=True).stdout.strip()
    with open(osp.join(base_site, 'node_packages.pth'), 'w') as f:
        f.write(f'import site; site.addsitedir({str(site)!r})\n')
    return str(base / 'bin' / 'python'), seen


@pytest.mark.slow
@no_gpu
@pytest.mark.usefixtures('package_index')
def test_offline_install_uses_the_torch_already_there(repo_root, tmp_path):
    python, present = node_like_python(tmp_path)
    assert 'torch' in present and 'mmengine' not in present
    freeze = tmp_path / 'freeze.txt'
    freeze.write_text(
        subprocess.run([python, '-m', 'pip', 'freeze'],
                       capture_output=True,
                       text=True,
                       check=True).stdout)
    assert 'torch==' in freeze.read_text()
    folder = tmp_path / 'wheels'
    result = setup_env(repo_root, '--wheelhouse', str(folder), '--freeze',
                       str(freeze))
    assert result.returncode == 0, result.stdout + result.stderr

    # The network off: no index, no mirror, and no proxy that answers.
    venv = tmp_path / 'node_venv'
    offline = dict(
        PIP_NO_INDEX='1',
        PIP_CONFIG_FILE=os.devnull,
        PIP_FIND_LINKS='',
        http_proxy='http://127.0.0.1:9',
        https_proxy='http://127.0.0.1:9',
        PYTHON=python,
        MMRLKD_VENV=str(venv))
    result = setup_env(repo_root, '--offline', str(folder), env=offline)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert 'mmcv: 2.1.0' in output and 'mmcv compiled ops: yes' in output
    for step in ('1/6 Python environment', '4/6 mmcv with compiled ops',
                 '5-6/6 mmrlkd, checks'):
        assert step in output
    # Where the new venv's Python finds torch and mmengine. The set-up's
    # last step imported them there, with mmrlkd (its environment summary
    # is the 'mmcv: 2.1.0' above): no second import of the stack here.
    code = ('import os; from importlib.util import find_spec; '
            "print(os.path.realpath(find_spec('torch').origin)); "
            "print(os.path.realpath(find_spec('mmengine').origin))")
    torch_file, mmengine_file = subprocess.run(
        [str(venv / 'bin' / 'python'), '-c', code],
        capture_output=True,
        text=True,
        check=True).stdout.split()
    # torch is the node's (this venv's, through the links); the stack went
    # into the new venv.
    assert torch_file == osp.realpath(torch.__file__)
    assert mmengine_file.startswith(str(venv))
    # A second run finds everything in place.
    again = setup_env(repo_root, '--offline', str(folder), env=offline)
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'nothing to install' in again.stdout
    assert 'already installed' in again.stdout


# ------------------------------------------------------- mim, editable
def test_mim_links_of_the_editable_install_are_not_tracked(repo_root):
    links = osp.join(repo_root, 'mmrlkd', '.mim')
    if not osp.isdir(links):
        pytest.skip('no editable install made the links here')
    for name in ('configs', 'tools', 'model-index.yml'):
        link = osp.join(links, name)
        assert osp.islink(link)
        assert osp.realpath(link) == osp.join(repo_root, name)
    ignored = subprocess.run(['git', 'check-ignore', '-q', links],
                             cwd=repo_root)
    if ignored.returncode == 128:
        pytest.skip('not a git checkout')
    assert ignored.returncode == 0


@pytest.mark.slow
def test_mim_train_with_the_readme_install(repo_root, tmp_path):
    """``mim train mmrlkd CONFIG`` on the editable install that
    tools/setup_env.sh makes (run from elsewhere: mim must not rely on the
    source tree being the working directory)."""
    pytest.importorskip('mim')
    work_dir = tmp_path / 'work'
    result = subprocess.run([
        sys.executable, '-m', 'mim', 'train', 'mmrlkd',
        'rlkd_resnet56_resnet8w4_digitpairs.py', '--work-dir',
        str(work_dir), '--cfg-options', 'model.teacher.backbone.depth=8',
        'model.teacher_ckpt=None', 'train_dataloader.batch_size=8',
        'train_dataloader.dataset.num_samples=16',
        'val_dataloader.dataset.num_samples=16', 'train_cfg.max_epochs=1'
    ],
                            cwd=tmp_path,
                            env=dict(os.environ, OMP_NUM_THREADS='1'),
                            capture_output=True,
                            text=True,
                            timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert osp.join('mmrlkd', '.mim', 'tools', 'train.py') in output
    assert 'Training finished successfully' in output
    assert osp.isfile(work_dir / 'epoch_1.pth')
