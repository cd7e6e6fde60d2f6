// Twenty customers, each with its own credentials reference, endpoints and batch tuning.
local names = [
  'acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka', 'tyrell', 'cyberdyne',
  'soylent', 'gringotts', 'monarch', 'oscorp', 'vandelay', 'dunder', 'prestige', 'sirius', 'aperture', 'blackmesa',
];

{
  [name]: {
    label: std.asciiUpper(name[0]) + name[1:],
    params: {
      customer_id: name,
      'source.host': 'sftp.' + name + '.example.net',
      'source.user': name + '-striv',
      'source.path': '/outgoing/' + name,
      'target.tenant': name,
      batch_size: 250 + 25 * std.length(name),
      env: { CUSTOMER: name, CREDENTIALS_PATH: 'secret/integrations/' + name },
    },
  }
  for name in names
}
