"""Markdown and JSON report of benchmarks/gpu_acceptance.py."""
import json
import os.path as osp


def _ms(value):
    return '—' if value is None else f'{value:.3f}'


def _mib(value):
    return 'n/a' if value is None else f'{value:.0f}'


def _table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return lines


def _ops_text(ops):
    """``{op: backend}`` as 'na2d_qk: reference, na2d_av: cuda, ...'."""
    return ', '.join(f'{op}: {backend}' for op, backend in ops.items())


def agreement_section(result):
    size = '×'.join(str(s) for s in result['input'])
    lines = [f'## Backbone agreement (A2Mamba-{result["arch"]}, {size}, '
             'fp32, TF32 off)', '']
    rows = [(backend, f'{error:.2e}', f'{result["tolerance"]:.0e}',
             _ops_text(result['ops'][backend]))
            for backend, error in result['max_rel_error'].items()]
    return lines + _table(('backend', 'max \\|Δ\\| / max \\|reference\\|',
                           'tolerance', 'op backends'), rows)


def training_section(results):
    lines = ['## AMP training (quick-start segmentor, tools/train.py --amp)',
             '']
    rows = [(r['device'], r['dtype'], r['iterations'],
             f'{r["losses"][0]:.4f}', f'{r["losses"][-1]:.4f}',
             _ops_text(r['ops'])) for r in results]
    return lines + _table(('device', 'dtype', 'iterations (losses finite)',
                           'first loss', 'last loss', 'op backends'), rows)


def ops_section(rows, settings):
    backends = list(rows[0]['times'])
    lines = [f'## Operators (A2Mamba-{settings["bench_arch"]} stage shapes, '
             f'{settings["bench_size"]}², batch {settings["batch"]}; ms, '
             f'median of {settings["reps"]}; fwd without grad; — = no '
             'kernel)', '']
    header = ['op', 'stage', 'shape']
    for backend in backends:
        header += [f'{backend} fwd', f'{backend} fwd+bwd']
    table = []
    for row in rows:
        cells = [row['op'], row['stage'], row['shape']]
        for backend in backends:
            t = row['times'][backend] or {}
            cells += [_ms(t.get('forward')), _ms(t.get('forward_backward'))]
        table.append(cells)
    lines += _table(header, table)
    lines += ['', 'Sums over the stage calls (speed-up against the '
              'reference):', '']
    sums = []
    for op in dict.fromkeys(row['op'] for row in rows):
        cells = [op]
        op_rows = [row for row in rows if row['op'] == op]
        ref = {key: sum(r['times']['reference'][key] for r in op_rows)
               for key in ('forward', 'forward_backward')}
        for backend in backends:
            if any(r['times'][backend] is None for r in op_rows):
                cells += ['—', '—']
                continue
            for key in ('forward', 'forward_backward'):
                total = sum(r['times'][backend][key] for r in op_rows)
                cells.append(f'{total:.3f} (×{ref[key] / total:.1f})')
        sums.append(cells)
    header = ['op']
    for backend in backends:
        header += [f'{backend} fwd', f'{backend} fwd+bwd']
    return lines + _table(header, sums)


def backbone_section(rows, settings):
    lines = [f'## Backbone (A2Mamba-{settings["bench_arch"]}, '
             f'{settings["batch"]}×3×{settings["bench_size"]}², fp32; ms, '
             f'median of {settings["reps"]}; training step = forward, '
             'backward, AdamW step)', '']
    table = [(r['backend'], f'{r["forward_ms"]:.1f}',
              f'{r["train_step_ms"]:.1f}', _mib(r['forward_peak_mib']),
              _mib(r['train_step_peak_mib']), _ops_text(r['ops']))
             for r in rows]
    return lines + _table(('backend', 'forward', 'training step',
                           'peak MiB forward', 'peak MiB training step',
                           'op backends'), table)


def render(report):
    """The report as markdown."""
    info = report['info']
    where = ', '.join(f'{k} {v}' for k, v in info.items() if v is not None)
    lines = ['# mmmamba GPU acceptance report', '',
             f'{where}; `{report["command"]}`', '']
    if 'failed' in report:
        lines += [f'**FAILED** — {report["failed"]}', '']
    sections = (('agree', agreement_section), ('train', training_section),
                ('ops', lambda r: ops_section(r, report['settings'])),
                ('backbone', lambda r: backbone_section(r,
                                                        report['settings'])))
    for key, section in sections:
        if key in report:
            lines += section(report[key]) + ['']
    elapsed = ', '.join(f'{k} {v:.1f} s'
                        for k, v in report['elapsed_s'].items())
    lines.append(f'Elapsed: {elapsed}')
    return '\n'.join(lines) + '\n'


def write_report(report, out_dir):
    """Write report.md and report.json to ``out_dir``; return the markdown."""
    markdown = render(report)
    with open(osp.join(out_dir, 'report.md'), 'w') as f:
        f.write(markdown)
    with open(osp.join(out_dir, 'report.json'), 'w') as f:
        json.dump(report, f, indent=1)
    return markdown
