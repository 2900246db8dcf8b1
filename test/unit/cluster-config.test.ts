import { clusterPorts, portsInUse, serverConfigYaml } from '../../stack/cluster-config';

test("the cluster's ports follow from the frontend's, the way Temporal lays them out", () => {
  const ports = clusterPorts(7433, 7432);
  expect(ports.grpc).toEqual({ frontend: 7433, history: 7434, matching: 7435, worker: 7439 });
  expect(ports.membership).toEqual({ frontend: 7133, history: 7134, matching: 7135, worker: 7139 });
  expect(ports.frontendHttp).toBe(7443);
  expect(new Set(portsInUse(ports).map((p) => p.port)).size).toBe(portsInUse(ports).length);
  expect(() => clusterPorts(1200, 7432)).toThrow(/frontend port must be/);
  // Temporal stores membership ports as SMALLINT.
  expect(clusterPorts(33061, 7432).membership.worker).toBe(32767);
  expect(() => clusterPorts(33062, 7432)).toThrow(/SMALLINT/);
});

test('the server config puts every service on loopback and both stores on our PostgreSQL', () => {
  const yaml = serverConfigYaml(clusterPorts(7433, 7432), '/stack/cluster/config/dynamic.yaml');
  expect(yaml.match(/connectAddr: "127.0.0.1:7432"/g)).toHaveLength(2);
  expect(yaml.match(/pluginName: "postgres12"/g)).toHaveLength(2);
  expect(yaml.match(/bindOnLocalHost: true/g)).toHaveLength(4);
  expect(yaml).toContain('rpcAddress: "127.0.0.1:7433"');
  expect(yaml).toContain('visibilityStore: postgres-visibility');
  expect(yaml).toContain('filepath: "/stack/cluster/config/dynamic.yaml"');
});
