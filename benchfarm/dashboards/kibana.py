"""Kibana saved objects (data views, visualizations, dashboards) built from the panel catalogue.

The objects follow the saved-objects export format (one JSON object per NDJSON line:
``id``, ``type``, ``attributes``, ``references``, migration versions). A visualization
points at its data view through ``references`` (``kibanaSavedObjectMeta.searchSourceJSON.index``)
and a dashboard at its visualizations through ``panelsJSON`` ``panelRefName`` = ``panel_<n>``.
"""

from __future__ import annotations

import json
from typing import Any

from benchfarm.dashboards.panels import DASHBOARDS, DATA_VIEWS, DEFAULT_METRIC, PANELS, Panel, data_view
from benchfarm.store.templates import index_names

CORE_MIGRATION = "8.8.0"
TYPE_MIGRATION = {"index-pattern": "8.0.0", "visualization": "8.5.0", "dashboard": "8.7.0"}
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def _obj(obj_id: str, obj_type: str, attributes: dict[str, Any], references: list[dict[str, str]]) -> dict[str, Any]:
    return {"id": obj_id, "type": obj_type, "attributes": attributes, "references": references,
            "coreMigrationVersion": CORE_MIGRATION, "typeMigrationVersion": TYPE_MIGRATION[obj_type],
            "managed": False}


def _kibana_field(field: str) -> str:
    return field.replace("{{metric}}", DEFAULT_METRIC)


def _aggs(p: Panel) -> list[dict[str, Any]]:
    aggs: list[dict[str, Any]] = []
    for m in p.metrics:
        params = {} if m.agg == "count" else {"field": _kibana_field(m.field)}
        if m.label:
            params["customLabel"] = m.label
        aggs.append({"id": str(len(aggs) + 1), "enabled": True, "type": m.agg, "params": params, "schema": "metric"})
    has_time = any(b.agg == "date_histogram" for b in p.buckets)
    for i, b in enumerate(p.buckets):
        agg_id = str(len(aggs) + 1)
        if b.agg == "date_histogram":
            aggs.append({"id": agg_id, "enabled": True, "type": "date_histogram", "schema": "segment",
                         "params": {"field": b.field, "useNormalizedEsInterval": True, "interval": "auto",
                                    "drop_partials": False, "min_doc_count": 1, "extended_bounds": {}}})
        else:
            schema = "segment" if i == 0 and not has_time else "group"  # no time axis: the first terms is the x-axis
            aggs.append({"id": agg_id, "enabled": True, "type": "terms", "schema": schema,
                         "params": {"field": b.field, "size": b.size, "order": "desc", "orderBy": "_key",
                                    "otherBucket": False, "missingBucket": False}})
    return aggs


def _xy_params(p: Panel) -> dict[str, Any]:
    series = [{"show": True, "type": p.vis_type, "mode": "stacked" if p.vis_type == "histogram" else "normal",
               "data": {"label": m.label or m.agg, "id": str(i + 1)}, "valueAxis": "ValueAxis-1",
               "drawLinesBetweenPoints": True, "lineWidth": 2, "showCircles": True, "interpolate": "linear"}
              for i, m in enumerate(p.metrics)]
    return {
        "type": p.vis_type, "addTooltip": True, "addLegend": True, "legendPosition": "right", "times": [],
        "addTimeMarker": False, "grid": {"categoryLines": False},
        "categoryAxes": [{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": True,
                          "style": {}, "scale": {"type": "linear"},
                          "labels": {"show": True, "filter": True, "truncate": 100}, "title": {}}],
        "valueAxes": [{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value", "position": "left", "show": True,
                       "style": {}, "scale": {"type": "linear", "mode": "normal"},
                       "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                       "title": {"text": p.metrics[0].label}}],
        "seriesParams": series,
        "thresholdLine": {"show": False, "value": 10, "width": 1, "style": "full", "color": "#E7664C"},
    }


def kql(p: Panel) -> str:
    """The fixed KQL of a visualization: its panel's constant term filters."""
    return " and ".join(f'{f} : "{v}"' for f, v in p.filters)


def visualization(p: Panel) -> dict[str, Any]:
    vis_state = {"title": p.title, "type": p.vis_type, "aggs": _aggs(p), "params": _xy_params(p)}
    search = {"query": {"query": kql(p), "language": "kuery"}, "filter": [], "indexRefName": INDEX_REF}
    return _obj(p.id, "visualization", {
        "title": p.title, "description": p.description, "version": 1, "uiStateJSON": "{}",
        "visState": json.dumps(vis_state),
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(search)},
    }, [{"name": INDEX_REF, "type": "index-pattern", "id": data_view(p.data_view).id}])


def dashboard(dash_id: str) -> dict[str, Any]:
    d = next(x for x in DASHBOARDS if x.id == dash_id)
    mine = [p for p in PANELS if p.dashboard == dash_id]
    panels = [{"version": CORE_MIGRATION, "type": "visualization", "panelIndex": f"p{i}",
               "gridData": {"x": 24 * (i % 2), "y": 15 * (i // 2), "w": 24, "h": 15, "i": f"p{i}"},
               "embeddableConfig": {"enhancements": {}}, "panelRefName": f"panel_{i}"} for i in range(len(mine))]
    return _obj(d.id, "dashboard", {
        "title": d.title, "description": d.description, "version": 1, "timeRestore": False,
        "panelsJSON": json.dumps(panels),
        "optionsJSON": json.dumps({"useMargins": True, "syncColors": False, "hidePanelTitles": False}),
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
            {"query": {"query": "", "language": "kuery"}, "filter": []})},
    }, [{"name": f"panel_{i}", "type": "visualization", "id": p.id} for i, p in enumerate(mine)])


def saved_objects(prefix: str = "benchfarm") -> list[dict[str, Any]]:
    """Every saved object, data views first (the order a Kibana export has: dependencies first)."""
    names = index_names(prefix)
    objs = [_obj(dv.id, "index-pattern", {"title": names[dv.index_key], "timeFieldName": dv.time_field,
                                          "name": dv.name}, []) for dv in DATA_VIEWS]
    objs += [visualization(p) for p in PANELS]
    objs += [dashboard(d.id) for d in DASHBOARDS]
    return objs


def to_ndjson(objects: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(o, sort_keys=True) + "\n" for o in objects)
