// Apache ECharts, only the parts the dashboard draws (bundled: nothing loads from the internet).

import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent, AriaComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, AriaComponent, SVGRenderer]);

// Draws `option` into `element`, replacing what was there; `onClick(params)` on a bar or point.
export function draw(element, option, onClick) {
  let chart = echarts.getInstanceByDom(element);
  if (!chart) {
    chart = echarts.init(element, null, { renderer: 'svg' });
    new ResizeObserver(() => chart.resize()).observe(element);
  }
  chart.setOption({ aria: { enabled: true }, animation: false, ...option }, true);
  chart.off('click');
  if (onClick) chart.on('click', onClick);
  return chart;
}
