"""The sample fleet: a small, entirely synthetic organisation (``examples/fleet/``).

Every host, address and configuration in it is invented: names under ``example.test`` and
addresses from the documentation ranges (RFC 5737). It exercises every verdict, every
configuration format and the skipped-row report of ``wormsign assess``; ``wormsign demo``
writes it next to its other outputs, and ``scripts/make_fleet_sample.py`` regenerates
``examples/fleet/`` from it.
"""

from __future__ import annotations

from pathlib import Path

LABEL = ("SYNTHETIC SAMPLE FLEET for wormsign: invented hosts (example.test, RFC 5737 "
         "addresses) and configuration exports; not real systems.")

_IIS_MAPS = [
    r".asa,C:\WINNT\System32\inetsrv\asp.dll,5,GET,HEAD,POST,TRACE",
    r".asp,C:\WINNT\System32\inetsrv\asp.dll,5,GET,HEAD,POST,TRACE",
    r".cdx,C:\WINNT\System32\inetsrv\asp.dll,5,GET,HEAD,POST,TRACE",
    r".cer,C:\WINNT\System32\inetsrv\asp.dll,5,GET,HEAD,POST,TRACE",
    r".htr,C:\WINNT\System32\inetsrv\ism.dll,5,GET,POST",
    r".idc,C:\WINNT\System32\inetsrv\httpodbc.dll,5,OPTIONS,GET,HEAD,POST,PUT,DELETE,TRACE",
    r".shtm,C:\WINNT\System32\inetsrv\ssinc.dll,5,GET,POST",
    r".shtml,C:\WINNT\System32\inetsrv\ssinc.dll,5,GET,POST",
    r".stm,C:\WINNT\System32\inetsrv\ssinc.dll,5,GET,POST",
    r".printer,C:\WINNT\System32\msw3prt.dll,5,GET,POST",
    r".ida,C:\WINNT\System32\idq.dll,7,GET,HEAD,POST",
    r".idq,C:\WINNT\System32\idq.dll,7,GET,HEAD,POST",
]
_LOCKED_MAPS = [m for m in _IIS_MAPS if m.split(",")[0] in (".asa", ".asp")]


def adsutil(maps: list[str], scripts_exec: bool, urlscan: bool = False,
            browse: bool = False) -> str:
    """An ``adsutil.vbs ENUM_ALL``-style listing of an IIS 4/5 metabase."""
    out = ["Microsoft (R) Windows Script Host Version 5.1", "", "[/w3svc]",
           'KeyType                         : (STRING) "IIsWebService"',
           f"ScriptMaps                      : (LIST) ({len(maps)} Items)"]
    out += [f'  "{m}"' for m in maps]
    if urlscan:
        out += ["", "[/w3svc/filters]",
                'KeyType                         : (STRING) "IIsFilters"',
                'FilterLoadOrder                 : (STRING) "sspifilt,Compression,md5filt,'
                'fpexedll.dll,UrlScan"',
                "", "[/w3svc/filters/UrlScan]",
                r'FilterPath                      : (STRING) "C:\WINNT\system32\inetsrv'
                r'\urlscan\urlscan.dll"']
    out += ["", "[/w3svc/1/root]",
            'KeyType                         : (STRING) "IIsWebVirtualDir"',
            r'Path                            : (STRING) "c:\inetpub\wwwroot"',
            "AccessFlags                     : (INTEGER) 513",
            "AccessExecute                   : (BOOLEAN) False",
            f"EnableDirBrowsing               : (BOOLEAN) {browse}",
            "", "[/w3svc/1/root/Scripts]",
            'KeyType                         : (STRING) "IIsWebVirtualDir"',
            r'Path                            : (STRING) "c:\inetpub\scripts"',
            f"AccessFlags                     : (INTEGER) {516 if scripts_exec else 1}",
            f"AccessExecute                   : (BOOLEAN) {scripts_exec}"]
    if scripts_exec:
        out += ["", "[/w3svc/1/root/MSADC]",
                'KeyType                         : (STRING) "IIsWebVirtualDir"',
                r'Path                            : (STRING) "c:\program files\common files'
                r'\system\msadc"',
                "AccessFlags                     : (INTEGER) 517",
                "AccessExecute                   : (BOOLEAN) True"]
    return "\n".join(out) + "\n"


METABASE = """<?xml version="1.0" encoding="UTF-8"?>
<!-- SYNTHETIC sample IIS 6.0 MetaBase.xml excerpt (wormsign example fleet) -->
<configuration xmlns="urn:microsoft-catalog:XML_Metabase_V64_0">
<MBProperty>
<IIsWebService Location="/LM/W3SVC"
\tAppAllowClientDebug="FALSE"
\tScriptMaps=".asp,C:\\WINDOWS\\system32\\inetsrv\\asp.dll,5,GET,HEAD,POST,TRACE
\t\t.idq,C:\\WINDOWS\\system32\\idq.dll,3,GET,HEAD,POST
\t\t.ida,C:\\WINDOWS\\system32\\idq.dll,3,GET,HEAD,POST
\t\t.shtml,C:\\WINDOWS\\system32\\inetsrv\\ssinc.dll,5,GET,POST"
\t>
</IIsWebService>
<IIsWebVirtualDir Location="/LM/W3SVC/1/ROOT"
\tAccessFlags="AccessRead | AccessScript"
\tDirBrowseFlags="DirBrowseShowDate | DirBrowseShowTime | DirBrowseShowSize"
\tPath="c:\\inetpub\\wwwroot"
\t>
</IIsWebVirtualDir>
</MBProperty>
</configuration>
"""

APPHOST = """<?xml version="1.0" encoding="UTF-8"?>
<!-- SYNTHETIC sample IIS 7.5 applicationHost.config excerpt (wormsign example fleet) -->
<configuration>
  <system.webServer>
    <directoryBrowse enabled="true" />
    <handlers accessPolicy="Read, Script">
      <add name="ASPClassic" path="*.asp" verb="GET,HEAD,POST" modules="IsapiModule"
           scriptProcessor="%windir%\\system32\\inetsrv\\asp.dll" resourceType="File" />
    </handlers>
    <httpProtocol>
      <customHeaders>
        <add name="X-Powered-By" value="ASP.NET" />
      </customHeaders>
    </httpProtocol>
  </system.webServer>
  <location path="Default Web Site/scripts">
    <system.webServer>
      <handlers accessPolicy="Read, Script, Execute" />
    </system.webServer>
  </location>
</configuration>
"""

HTTPD_CONF = """# SYNTHETIC sample Apache 1.3 httpd.conf excerpt (wormsign example fleet)
ServerRoot "/usr/local/apache"
Listen 80
ServerTokens Full
ServerSignature On
DocumentRoot "/usr/local/apache/htdocs"
<Directory "/usr/local/apache/htdocs">
    Options Indexes FollowSymLinks
    AllowOverride None
</Directory>
ScriptAlias /cgi-bin/ "/usr/local/apache/cgi-bin/"
"""

NGINX_CONF = """# SYNTHETIC sample nginx.conf excerpt (wormsign example fleet)
worker_processes 1;
events { worker_connections 1024; }
http {
    server_tokens off;
    server {
        listen 80;
        server_name static.example.test;
        root /srv/www;
        location /downloads/ {
            autoindex on;
        }
    }
}
"""

CONFIGS = {
    "iis5-default.txt": adsutil(_IIS_MAPS, scripts_exec=True),
    "iis5-urlscan.txt": adsutil(_IIS_MAPS, scripts_exec=True, urlscan=True),
    "iis4-lockdown.txt": adsutil(_LOCKED_MAPS, scripts_exec=False),
    "iis6-MetaBase.xml": METABASE,
    "iis7-applicationHost.config": APPHOST,
    "httpd.conf": HTTPD_CONF,
    "nginx.conf": NGINX_CONF,
}

INVENTORY = [
    "host,address,software,version,os,patches,exposure,role,criticality,config",
    "www1.example.test,192.0.2.10,IIS,5.0,Windows 2000 Server SP1,,internet,web,high,"
    "configs/iis5-default.txt",
    "www2.example.test,192.0.2.11,IIS,5.0,Windows 2000 Server SP2,MS01-033,internet,web,high,"
    "configs/iis5-default.txt",
    "shop.example.test,192.0.2.12,Microsoft IIS httpd,5.0,Windows 2000 Server SP2,"
    "Q301625,internet,web,critical,configs/iis5-default.txt",
    "partner.example.test,192.0.2.13,IIS,5.0,Windows 2000 Server,?,internet,extranet,medium,"
    "configs/iis5-default.txt",
    "gate.example.test,192.0.2.14,IIS,5.0,Windows 2000 Server SP2,,internet,web,medium,"
    "configs/iis5-urlscan.txt",
    "mail.example.test,192.0.2.15,IIS,5.0,Windows 2000 Server SP3,,internet,mail,medium,",
    "intranet.example.test,198.51.100.20,IIS,4.0,Windows NT 4.0 SP6a,Q269862,internal,"
    "intranet,medium,configs/iis4-lockdown.txt",
    "hr.example.test,198.51.100.21,IIS,4.0,Windows NT 4.0 SP6a,,internal,intranet,high,",
    "wiki.example.test,198.51.100.22,IIS,5.0,Windows 2000 Server SP2,Q319733,internal,"
    "intranet,low,configs/iis5-default.txt",
    "files.example.test,198.51.100.23,IIS,5.0,Windows 2000 Server SP2,none,internal,intranet,"
    "low,configs/iis5-default.txt",
    "new.example.test,203.0.113.30,IIS,6.0,Windows Server 2003,,internet,web,medium,"
    "configs/iis6-MetaBase.xml",
    "portal.example.test,203.0.113.31,IIS,7.5,Windows Server 2008 R2,,internet,web,medium,"
    "configs/iis7-applicationHost.config",
    "www3.example.test,203.0.113.32,Apache,1.3.20,Red Hat Linux 7.1,,internet,web,medium,"
    "configs/httpd.conf",
    "static.example.test,203.0.113.33,nginx,1.24.0,Debian 12,,internet,web,low,"
    "configs/nginx.conf",
    "test.example.test,192.0.2.99,IIS,5.0,Windows 2000 Server,,dmz,lab,low,",
    ",192.0.2.98,IIS,5.0,Windows 2000 Server,,internet,lab,low,",
    "broken.example.test,192.0.2.97,IIS,5.0",
]

NMAP_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- SYNTHETIC sample nmap -sV -oX output (wormsign example fleet) -->
<nmaprun scanner="nmap" args="nmap -sV -oX scan.xml 192.0.2.10-11" version="7.94">
<host><status state="up"/>
<address addr="192.0.2.10" addrtype="ipv4"/>
<hostnames><hostname name="www1.example.test" type="PTR"/></hostnames>
<ports>
<port protocol="tcp" portid="80"><state state="open"/>
<service name="http" product="Microsoft IIS httpd" version="5.0" ostype="Windows"/></port>
</ports>
</host>
<host><status state="up"/>
<address addr="192.0.2.11" addrtype="ipv4"/>
<ports>
<port protocol="tcp" portid="80"><state state="open"/>
<service name="http" product="Apache httpd" version="2.4.62" ostype="Unix"/></port>
<port protocol="tcp" portid="22"><state state="open"/>
<service name="ssh" product="OpenSSH" version="9.2p1"/></port>
</ports>
</host>
</nmaprun>
"""

YAML_INV = """# SYNTHETIC sample inventory (wormsign example fleet), YAML form
hosts:
  - host: www1.example.test
    software: IIS
    version: "5.0"
    os: Windows 2000 Server SP1
    patches: []
    exposure: internet
    config: configs/iis5-default.txt
  - host: intranet.example.test
    software: IIS
    version: "4.0"
    patches: [Q269862]
    exposure: internal
    config: configs/iis4-lockdown.txt
"""


def write(out: str | Path) -> list[Path]:
    """Write the sample under ``out``; returns the files written."""
    root = Path(out)
    written = []
    (root / "configs").mkdir(parents=True, exist_ok=True)
    files = {f"configs/{k}": v for k, v in CONFIGS.items()}
    files["inventory.csv"] = "\n".join(INVENTORY) + "\n"
    files["inventory.yaml"] = YAML_INV
    files["nmap-scan.xml"] = NMAP_XML
    files["SYNTHETIC.txt"] = LABEL + "\n"
    for name, text in files.items():
        p = root / name
        p.write_text(text, encoding="utf-8", newline="\n")
        written.append(p)
    return written
