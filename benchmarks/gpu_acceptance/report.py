"""Item f: report.md (summary, then per-item tables) and report.json."""
import json
import os.path as osp

ITEM_TITLES = {
    'build': 'build', 'torch_only': 'torch-only ops',
    'a': 'a ops vs reference', 'b': 'b compute-sanitizer',
    'c': 'c backbone', 'd': 'd timings', 'e': 'e tools/train.py',
}


def summary_lines(report):
    """One line per item: '<title>: <STATUS> (<seconds> s) <text>'."""
    return [f'{ITEM_TITLES[key]}: {item["status"]} ({item["seconds"]:.0f} s)'
            f' {item["summary"]}' for key, item in report['items'].items()]


def _table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    return lines + ['| ' + ' | '.join(str(c) for c in row) + ' |'
                    for row in rows]


def _num(value, fmt):
    return '—' if value is None else format(value, fmt)


def ops_table(details):
    backends = list(details['rows'][0]['errors'])
    rows = [(r['op'], r['shape'], r['dtype'],
             *(_num(r['errors'][b], '.1e') for b in backends))
            for r in details['rows']]
    return _table(('op', 'shape', 'dtype', *backends), rows)


def timings_tables(details):
    backends = list(details['ops'][0]['times'])
    header = ['op', 'shape'] + [f'{b} {k}' for b in backends
                                for k in ('fwd', 'fwd+bwd')]
    rows = []
    for row in details['ops']:
        cells = [row['op'], row['shape']]
        for b in backends:
            t = row['times'][b] or {}
            cells += [_num(t.get('forward'), '.3f'),
                      _num(t.get('forward_backward'), '.3f')]
        rows.append(cells)
    lines = ['Operators, ms (median; — = no kernel):', ''] + _table(
        header, rows)
    rows = [(r['model'], r.get('backend', '—'), f'{r["image"]}²',
             r['batch'], _num(r.get('forward_ms'), '.1f'),
             _num(r.get('train_step_ms'), '.1f'),
             _num(r.get('forward_peak_mib'), '.0f'),
             _num(r.get('train_step_peak_mib'), '.0f'),
             r.get('missing', '')) for r in details['backbones']]
    return lines + ['', 'Backbones (fp32), ms and peak MiB:', ''] + _table(
        ('model', 'backend', 'input', 'batch', 'forward', 'training step',
         'peak forward', 'peak step', 'note'), rows)


DETAIL_TABLES = {'a': ops_table, 'd': timings_tables}


def render(report):
    """The report as markdown: the run's context, the summary, tables."""
    info = ', '.join(f'{k} {v}' for k, v in report['info'].items())
    lines = ['# mmmamba GPU acceptance', '', info, '', '## Summary', '',
             '```', *summary_lines(report), '```']
    for key, item in report['items'].items():
        table = DETAIL_TABLES.get(key)
        if table and item['status'] in ('PASS', 'FAIL', 'FIGURE') and \
                item.get('details'):
            lines += ['', f'## {ITEM_TITLES[key]}', '', *table(
                item['details'])]
    return '\n'.join(lines) + '\n'


def write_report(report, out_dir):
    """Write report.md and report.json into ``out_dir``."""
    with open(osp.join(out_dir, 'report.md'), 'w') as f:
        f.write(render(report))
    with open(osp.join(out_dir, 'report.json'), 'w') as f:
        json.dump(report, f, indent=1, default=str)
