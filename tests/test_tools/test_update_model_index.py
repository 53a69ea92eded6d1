"""model-index.yml: up to date with the READMEs, readable by mim."""
import importlib.util
import os.path as osp

import pytest
import yaml
from modelindex.load_model_index import load

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def tool():
    path = osp.join(ROOT, 'tools', 'misc', 'update_model_index.py')
    spec = importlib.util.spec_from_file_location('update_model_index', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_index_is_up_to_date(tool, capsys):
    assert tool.main(['--check']) == 0, capsys.readouterr().out


def test_mim_reads_every_model_with_an_existing_config():
    index = load(osp.join(ROOT, 'model-index.yml'))
    names = [model.name for model in index.models]
    assert len(names) == len(set(names)) > 100
    collections = {c.name for c in index.collections}
    for model in index.models:
        assert osp.isfile(osp.join(ROOT, model.config)), model.config
        assert osp.splitext(osp.basename(model.config))[0] == model.name
        assert model.in_collection in collections
        metrics = model.results[0].metrics
        assert 'not run yet' in metrics.values(), model.name


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_links_take_their_paper_column(tool, tmp_path):
    # One table in the layout of configs/rlkd/README.md, one in that of
    # configs/kd/README.md; a link to a missing file is left out.
    for name in ('rlkd/rlkd_a_cifar100.py', 'ctkd/ctkd_kd_a_cifar100.py',
                 'kd/kd_a_cifar100.py', 'kd/kd_pkt_a_cifar100.py',
                 'detection/dkd_roi_x_coco.py', 'rlkd/rlkd_b_imagenet.py'):
        write(tmp_path / 'configs' / name, '')
    write(tmp_path / 'configs' / 'rlkd' / 'README.md', """
| pair | configs | teacher | KD (paper) | +CTKD (paper) | +RLKD (paper) | ours |
|---|---|---|---|---|---|---|
| A | [kd](../kd/kd_a_cifar100.py), [ctkd](../ctkd/ctkd_kd_a_cifar100.py), [rlkd](rlkd_a_cifar100.py) | 72.34 | 70.66 | 71.11 | 71.40 | not run yet |
| B | [rlkd](rlkd_b_imagenet.py), [dkd](../detection/dkd_roi_x_coco.py), [gone](gone.py) | 1 | 2 | 3 | 71.39 / 90.51 | not run yet |
""")  # noqa: E501
    write(
        tmp_path / 'configs' / 'kd' / 'README.md', """
| method | config | paper | ours |
|---|---|---|---|
| KD | [kd](kd_a_cifar100.py) | 70.70 (a note) | not run yet |
| PKT | [pkt](kd_pkt_a_cifar100.py) | 70.85 | not run yet |
""")
    index = tool.build_index(str(tmp_path))
    models = {model['Name']: model for model in index['Models']}
    metrics = {
        name: model['Results'][0]['Metrics']
        for name, model in models.items()
    }
    assert metrics == {
        'ctkd_kd_a_cifar100': {
            'Top 1 Accuracy': 'not run yet',
            'Top 1 Accuracy (paper)': 71.11
        },
        'dkd_roi_x_coco': {
            'box AP': 'not run yet'
        },
        # Its own folder's README wins over the RLKD table's KD column.
        'kd_a_cifar100': {
            'Top 1 Accuracy': 'not run yet',
            'Top 1 Accuracy (paper)': 70.70
        },
        'kd_pkt_a_cifar100': {
            'Top 1 Accuracy': 'not run yet',
            'Top 1 Accuracy (paper)': 70.85
        },
        'rlkd_a_cifar100': {
            'Top 1 Accuracy': 'not run yet',
            'Top 1 Accuracy (paper)': 71.40
        },
        'rlkd_b_imagenet': {
            'Top 1 Accuracy': 'not run yet',
            'Top 5 Accuracy': 'not run yet',
            'Top 1 Accuracy (paper)': 71.39,
            'Top 5 Accuracy (paper)': 90.51
        },
    }
    assert models['kd_a_cifar100']['README'] == 'configs/kd/README.md'
    assert models['dkd_roi_x_coco']['In Collection'] == 'DKD'
    assert models['rlkd_b_imagenet']['Results'][0]['Dataset'] == 'ImageNet-1k'
    assert [c['Name']
            for c in index['Collections']] == ['RLKD', 'CTKD', 'DKD', 'KD']
    # The file mim reads is that index in YAML.
    assert yaml.safe_load(tool.render(index)) == index
